"""One dense study shared by the end-to-end tests: three runs into one ML Metadata store (TFX imports and
pipeline runs are the expensive part, so they happen once per test session)."""
import os

import pytest

from dlqos import cli, metadata
from tests.helpers import write_fashion_like_dir


@pytest.fixture(scope="session")
def dense_study(tmp_path_factory):
    """Run 1 and 2: a good model (2 epochs); run 3: crippled (a single training step)."""
    root = tmp_path_factory.mktemp("dense")
    data = write_fashion_like_dir(str(root / "data"), n_train=600, n_eval=200)
    out = str(root / "out")
    args = ["run", "dense", "--data-dir", data, "--output-dir", out, "--epochs", "2", "--batch-size", "32"]
    codes = [cli.main(args), cli.main(args), cli.main(args + ["--train-steps", "1", "--epochs", "1"])]
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"out": out, "codes": codes, "runs": metadata.pipeline_runs(store, "dlqos-dense")}
