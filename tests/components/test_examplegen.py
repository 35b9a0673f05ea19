"""DatasetExampleGen's executor on small raw files in the real formats: the examples, the splits, the limits,
dataset.json inside the artifact, and bad input as one DataError naming the file."""
import gzip
import os

import numpy as np
import pytest

from common.errors import DataError
from tests.helpers import bomb_and_dead_class, cifar_batches, photo_folder, run_examplegen, write_fashion_like_dir


def test_idx_files_become_the_same_examples_with_facts_inside_the_artifact(tmp_path):
    from data import fashion_mnist

    raw = fashion_mnist.raw(write_fashion_like_dir(str(tmp_path / "raw"), n_train=30, n_eval=12))
    splits, facts = run_examplegen(tmp_path, "fashion_mnist", raw, max_train=20)
    arrays = fashion_mnist.load(raw.base)
    assert facts["counts"] == {"train": 20, "eval": 12} and facts["shape"] == [28, 28, 1]
    assert facts["class_names"] == list(fashion_mnist.CLASS_NAMES) and facts["errors"] == []
    # the first 20 training images of the file, as the conversion always took them (order aside)
    expected = sorted(arrays.train[0][:20].reshape(20, -1).tolist())
    assert sorted(example["pixels"] for example in splits["train"]) == expected
    assert sorted(e["label"][0] for e in splits["eval"]) == sorted(arrays.eval[1].tolist())


def test_first_classes_then_limit(tmp_path):
    from data import fashion_mnist

    raw = fashion_mnist.raw(write_fashion_like_dir(str(tmp_path / "raw"), n_train=40, n_eval=20))
    splits, facts = run_examplegen(tmp_path, "fashion_mnist", raw, max_train=5, max_classes=3)
    labels = fashion_mnist.load(raw.base).train[1]
    assert sorted(e["label"][0] for e in splits["train"]) == sorted(labels[labels < 3][:5].tolist())
    assert len(facts["class_names"]) == 3 and "first 3 classes" in facts["source"]


def test_truncated_idx_payload_is_one_data_error_naming_the_file(tmp_path):
    from data import fashion_mnist

    directory = write_fashion_like_dir(str(tmp_path / "raw"), n_train=30, n_eval=12)
    path = os.path.join(directory, "train-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        payload = f.read()
    with gzip.open(path, "wb") as f:
        f.write(payload[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: idx payload has"):
        run_examplegen(tmp_path, "fashion_mnist", fashion_mnist.raw(directory))


def test_label_count_mismatch_is_found_before_any_work(tmp_path):
    from data import fashion_mnist
    from data.idx import write_idx

    directory = write_fashion_like_dir(str(tmp_path / "raw"), n_train=30, n_eval=12)
    raw = fashion_mnist.raw(directory)
    write_idx(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"), np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: 5 labels for 12 images"):
        run_examplegen(tmp_path, "fashion_mnist", raw)


def test_photo_folder_skips_and_counts_a_corrupt_photo_unless_strict(tmp_path, caplog):
    from data import image_folder

    root = photo_folder(str(tmp_path / "photos"))
    with open(os.path.join(root, "roses", "broken.jpg"), "wb") as f:
        f.write(b"not a jpeg")
    raw = image_folder.raw(root)
    splits, facts = run_examplegen(tmp_path / "a", "image_folder", raw)
    warnings = [r.getMessage() for r in caplog.records if r.name == "dlqos.data" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0] == f"skipped {facts['skipped'][0]}", warnings
    assert facts["skipped"][0].startswith(f"{os.path.join(root, 'roses', 'broken.jpg')}: not a readable image (")
    arrays = image_folder.load(root)
    assert facts["counts"] == {"train": len(arrays.train[0]), "eval": len(arrays.eval[0])}
    assert facts["source"] == arrays.source and "1 corrupt images skipped" in facts["source"]
    assert facts["class_names"] == ["daisy", "roses"] and facts["shape"] == [128, 128, 3]
    assert sorted(e["pixels"] for e in splits["eval"]) == sorted(arrays.eval[0].reshape(2, -1).tolist())
    with pytest.raises(DataError, match="broken.jpg"):
        run_examplegen(tmp_path / "b", "image_folder", raw, strict=True)


def test_photo_folder_class_with_no_readable_image_fails_and_a_bomb_is_skipped(tmp_path, caplog):
    from data import image_folder

    root = photo_folder(str(tmp_path / "photos"))
    bomb_and_dead_class(root)
    with pytest.raises(DataError, match="class 'tulips' has no readable images"):
        run_examplegen(tmp_path / "a", "image_folder", image_folder.raw(root))
    os.rename(os.path.join(root, "tulips"), str(tmp_path / "tulips-moved"))
    caplog.clear()
    splits, facts = run_examplegen(tmp_path / "b", "image_folder", image_folder.raw(root))
    assert "1 corrupt images skipped" in facts["source"] and facts["counts"] == {"train": 8, "eval": 2}
    assert len(facts["skipped"]) == 1 and "huge.png" in facts["skipped"][0]
    assert [(r.name, r.levelname) for r in caplog.records if "skipped" in r.getMessage()] == [
        ("dlqos.data", "WARNING")]
    warning = next(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert os.path.join(root, "roses", "huge.png") in warning and "decompression bomb" in warning
    assert "every_class_required" not in facts


def test_cifar_batches_one_work_item_each_and_a_corrupt_batch_is_named(tmp_path):
    from data import cifar10

    directory = cifar_batches(str(tmp_path / "cifar"))
    raw = cifar10.raw(directory)
    splits, facts = run_examplegen(tmp_path / "a", "cifar10", raw, max_train=7)
    arrays = cifar10.load(directory)
    assert facts["counts"] == {"train": 7, "eval": len(arrays.eval[0])} and facts["shape"] == [32, 32, 3]
    assert sorted(e["pixels"] for e in splits["train"]) == sorted(arrays.train[0][:7].reshape(7, -1).tolist())
    with open(os.path.join(raw.base, "data_batch_3"), "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3: not a CIFAR-10 python batch"):
        run_examplegen(tmp_path / "b", "cifar10", raw)


def test_text_windows_and_vocabulary(tmp_path):
    from data import text
    from data.tfrecords import write_text_examples

    (tmp_path / "corpus.txt").write_text("abcdefghij" * 150)
    raw = text.raw(str(tmp_path / "corpus.txt"))
    splits, facts = run_examplegen(tmp_path / "a", "text", raw)
    expected = write_text_examples(text.load(str(tmp_path / "corpus.txt")), str(tmp_path / "old"))
    assert facts["vocabulary"] == expected["vocabulary"] and facts["counts"] == expected["counts"]
    assert all(len(e["ids"]) == 101 for e in splits["train"] + splits["eval"])
