"""TF Serving's TensorFlow loads what our Trainer exports: each served step's model (dense, cnn, transfer,
autoencoder, textgen), exported by the step's own export code in the runtime's TensorFlow, is loaded with
tf.saved_model.load and every signature is called in the TensorFlow of the pinned tensorflow/serving image
(serving/tensorflow-serving-MAJOR.MINOR.txt, in scripts/tf-runtime.sh's venv on a Python it supports), and
answers what the runtime's TensorFlow answers."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import yaml

from tests.platform.containers import ROOT, manifest
from tests.serving.saved_model_calls import call_all, decode, encode

pytestmark = pytest.mark.slow

ROWS = 2
CLASSIFIER = {
    "serving_default": ("examples", {"probabilities": ("float32", [ROWS, 10]), "class_id": ("int64", [ROWS])}),
    "serving_pixels": ("pixels", {"probabilities": ("float32", [ROWS, 10]), "class_id": ("int64", [ROWS])}),
    "classify": ("examples", {"classes": ("string", [ROWS, 10]), "scores": ("float32", [ROWS, 10])}),
}
# model -> signature -> (the input it takes: see signature_inputs, {output: (dtype, shape)})
SIGNATURES = {
    "dense": CLASSIFIER, "cnn": CLASSIFIER, "transfer": CLASSIFIER,
    "autoencoder": {
        "serving_default": ("pixels", {"denoised": ("float32", [ROWS, 28, 28])}),
        "evaluate_denoising": ("examples", {"denoised": ("float32", [ROWS, 784])}),
    },
    "textgen": {
        "generate": ("prompt", {"text": ("string", [ROWS])}),
        "serving_default": ("text_examples", {"loss": ("float32", [ROWS])}),
    },
}


def pinned_tf_serving() -> str:
    """The tensorflow/serving tag that serving/docker-compose.yml and the Kubernetes base both run."""
    with open(os.path.join(ROOT, "serving", "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)["services"]["tf-serving"]["image"]
    pod_spec = manifest("k8s/base/serving-deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    kubernetes = pod_spec["containers"][0]["image"]
    assert compose == kubernetes, f"docker-compose runs {compose}, Kubernetes {kubernetes}"
    return compose.split(":", 1)[1]


def pinned_release() -> str:
    """MAJOR.MINOR of the pinned TF Serving: the TensorFlow release it is built on."""
    return ".".join(pinned_tf_serving().split(".")[:2])


def requirements_file() -> str:
    return os.path.join(ROOT, "serving", f"tensorflow-serving-{pinned_release()}.txt")


def export_models(root: str) -> dict:
    """Each served step's model, untrained, exported by its own export code: {model: SavedModel path}."""
    from models import training
    from models.steps import autoencoder, cnn, dense, transfer
    from tests.helpers import write_transform_graph
    from tests.serving.conftest import save_tiny_textgen
    import tensorflow as tf

    raw_spec = {"pixels": tf.io.FixedLenFeature([784], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
    rows = [{"pixels": np.arange(784) % 256, "label": label} for label in range(ROWS)]
    transform = write_transform_graph(os.path.join(root, "transform"), dense.preprocessing_fn, raw_spec, rows)
    paths = {name: os.path.join(root, name) for name in SIGNATURES}
    classes = [f"class {i}" for i in range(10)]
    backbone, _ = transfer.build_backbone(backbone_weights=None, input_size=96)
    for name, model in (("dense", dense.build_model()), ("cnn", cnn.build_model()),
                        ("transfer", transfer.build_model((28, 28, 1), 10, backbone, input_size=96))):
        training.export_classifier(model, transform, paths[name], (28, 28, 1), classes)
    autoencoder.export(autoencoder.build_model(), transform, paths["autoencoder"], noise_factor=0.3)
    save_tiny_textgen(paths["textgen"], os.path.join(root, "textgen-transform"))
    return paths


def signature_inputs() -> dict:
    """Valid inputs of ROWS rows for each kind of input the signatures take."""
    import tensorflow as tf

    def example(**features) -> bytes:
        return tf.train.Example(features=tf.train.Features(feature={
            name: tf.train.Feature(int64_list=tf.train.Int64List(value=values)) for name, values in features.items()
        })).SerializeToString()

    pixels = np.random.default_rng(0).integers(0, 256, size=(ROWS, 784))
    return {
        "examples": {"examples": np.array([example(pixels=row) for row in pixels], dtype=object)},
        "pixels": {"pixels": pixels.reshape(ROWS, 28, 28).astype(np.float32)},
        "prompt": {"prompt": np.array([b"bad cafe", b""], dtype=object), "num_chars": np.array([12, 5]),
                   "temperature": np.array([0.5, 1.0], np.float32), "seed": np.array([1, 2])},
        "text_examples": {"examples": np.array([example(ids=np.arange(i, i + 101) % 9) for i in range(ROWS)],
                                               dtype=object)},
    }


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> list:
    paths = export_models(str(tmp_path_factory.mktemp("exports")))
    inputs = signature_inputs()
    calls = []
    for model, signatures in SIGNATURES.items():
        for signature, (kind, _) in signatures.items():
            tensors = {name: encode(value) for name, value in inputs[kind].items()}
            if signature == "classify":  # the Classify API's input name
                tensors = {"inputs": tensors["examples"]}
            calls.append({"model": model, "path": paths[model], "signature": signature, "inputs": tensors})
    return calls


@pytest.fixture(scope="module")
def serving_answers(calls, tmp_path_factory) -> dict:
    """call_all in the pinned TF Serving's TensorFlow (its venv is built on the first run: minutes)."""
    work = tmp_path_factory.mktemp("tf-serving-runtime")
    with open(work / "calls.json", "w") as f:
        json.dump(calls, f)
    done = subprocess.run([os.path.join(ROOT, "scripts", "tf-runtime.sh"), requirements_file(),
                           os.path.join(ROOT, "tests", "serving", "saved_model_calls.py"),
                           str(work / "calls.json"), str(work / "answers.json")],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    print(done.stdout)
    with open(work / "answers.json") as f:
        return json.load(f)


def test_every_signature_of_every_served_model_answers_in_tf_serving_tensorflow(serving_answers):
    assert serving_answers["tensorflow"].startswith(pinned_release() + ".")
    assert {tuple(names) for names in serving_answers["signatures"].values()} == {
        tuple(sorted(signatures)) for signatures in SIGNATURES.values()}
    for result in serving_answers["results"]:
        where = f"{result['model']} {result['signature']} in TensorFlow {serving_answers['tensorflow']}"
        assert "error" not in result, f"{where}: {result.get('error')}"
        _, expected = SIGNATURES[result["model"]][result["signature"]]
        got = {name: (tensor["dtype"], tensor["shape"]) for name, tensor in result["outputs"].items()}
        assert got == {name: (dtype, shape) for name, (dtype, shape) in expected.items()}, where


def test_tf_serving_tensorflow_answers_what_the_runtime_answers(calls, serving_answers):
    runtime_answers = call_all(calls)
    assert sorted(map(sorted, runtime_answers["signatures"].values())) == sorted(
        map(sorted, serving_answers["signatures"].values()))
    for ours, theirs in zip(runtime_answers["results"], serving_answers["results"]):
        for name, tensor in ours["outputs"].items():
            expected = decode(tensor)
            got = decode(theirs["outputs"][name])
            where = f"{ours['model']} {ours['signature']} {name}"
            if expected.dtype == object:
                assert got.tolist() == expected.tolist(), where
            else:
                np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=where)
