"""Conformance: the same client checks against any TF Serving endpoint, the stand-in by default.

To run them against a real TF Serving, start it on a models.config that serves the model written by
`tests.helpers.save_tiny_model` as "tiny" (version 1: scale 2, version 2: scale 3, labels stable=1 canary=2) and
the one written by `tests.serving.conftest.save_half_plus_three` as "half_plus_three" (version 123), and set
DLQOS_REST_URL and DLQOS_GRPC_TARGET. Tests that push new versions need the stand-in's registry.
"""
import base64
import json
import shutil
import threading
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from serving.client import ServingClientError
from tests.helpers import save_tiny_model
from tests.serving.conftest import X


def test_status_lists_available_versions(server):
    status = server["rest"].status("tiny")["model_version_status"]
    assert {(s["version"], s["state"]) for s in status} >= {("1", "AVAILABLE"), ("2", "AVAILABLE")}


def test_predict_row_and_columnar_formats_hit_the_latest_version(server):
    rows = server["rest"].predict("tiny", instances=X)["predictions"]
    assert np.allclose([r["y"] for r in rows], np.array(X) * 3) and np.allclose(rows[0]["total"], 18.0)
    columns = server["rest"].predict("tiny", inputs={"x": X})["outputs"]
    assert np.allclose(columns["y"], np.array(X) * 3)


def test_versions_and_labels(server):
    assert np.allclose(server["rest"].predict("tiny", instances=X, version=1)["predictions"][0]["y"], [2, 4, 6])
    assert np.allclose(server["rest"].predict("tiny", instances=X, label="stable")["predictions"][0]["y"], [2, 4, 6])
    assert np.allclose(server["rest"].predict("tiny", instances=X, label="canary")["predictions"][0]["y"], [3, 6, 9])


def test_b64_serialized_examples(server):
    example = tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 1.0, 1.0]))})).SerializeToString()
    rows = server["rest"].predict("tiny", instances=[{"b64": base64.b64encode(example).decode()}],
                                  signature="from_examples")["predictions"]
    assert np.allclose(rows[0]["total"], 9.0)


def test_metadata_describes_signatures(server):
    rest = server["rest"].metadata("tiny")["metadata"]["signature_def"]
    signatures = rest.get("signature_def", rest)
    assert {"serving_default", "from_examples"} <= set(signatures)
    grpc_signatures = server["grpc"].metadata("tiny").signature_def
    assert {"serving_default", "from_examples"} <= set(grpc_signatures)


def test_grpc_predict_and_status(server):
    outputs = server["grpc"].predict("tiny", {"x": np.array(X, np.float32)})
    assert np.allclose(outputs["y"], np.array(X) * 3)
    assert np.allclose(server["grpc"].predict("tiny", {"x": np.array(X, np.float32)}, version=1)["y"], np.array(X) * 2)
    versions = {s.version for s in server["grpc"].status("tiny").model_version_status}
    assert {1, 2} <= versions


@pytest.mark.parametrize("call, status, message", [
    (lambda c: c.predict("nope", instances=X), 404, "Servable not found"),
    (lambda c: c.predict("tiny", instances=X, version=99), 404, "Servable not found"),
    (lambda c: c.predict("tiny", instances=[[1.0, 2.0]]), 400, "shape"),
    (lambda c: c.predict("tiny", instances=[["a", "b", "c"]]), 400, ""),
    (lambda c: c.predict("tiny", instances=X, signature="nope"), 400, "not found"),
])
def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(server, call, status, message):
    with pytest.raises(ServingClientError) as error:
        call(server["rest"])
    assert error.value.status == status and message in str(error.value)
    assert server["rest"].predict("tiny", instances=X)["predictions"]


def test_malformed_json_is_a_400(server):
    request = urllib.request.Request(server["rest"].base_url + "/v1/models/tiny:predict", data=b"{not json",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 400 and "JSON" in json.load(error.value)["error"]


def test_grpc_unknown_model_is_not_found(server):
    with pytest.raises(ServingClientError, match="NOT_FOUND"):
        server["grpc"].predict("nope", {"x": np.zeros((1, 3), np.float32)})


def test_new_versions_load_corrupt_ones_never_replace_and_requests_survive_the_switch(server):
    if server["standin"] is None:
        pytest.skip("pushes versions into the stand-in's own serving root")
    root = server["root"]
    registry = server["standin"].registry
    save_tiny_model(str(root / "tiny" / "3"), 5.0)
    errors = []
    answers = []

    def hammer():
        for _ in range(20):
            try:
                answers.append(server["rest"].predict("tiny", instances=X)["predictions"][0]["y"][0])
            except Exception as error:  # any failure during the switch is a conformance failure
                errors.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    registry.refresh()
    for thread in threads:
        thread.join()
    assert errors == [] and set(answers) <= {3.0, 5.0} and len(answers) == 80
    assert server["rest"].predict("tiny", instances=X)["predictions"][0]["y"][0] == 5.0
    states = {s["version"]: s["state"] for s in server["rest"].status("tiny")["model_version_status"]}
    assert states["1"] == "END" and states["3"] == "AVAILABLE"  # latest-2 policy unloaded version 1
    (root / "tiny" / "4").mkdir()
    (root / "tiny" / "4" / "saved_model.pb").write_bytes(b"corrupt")
    registry.refresh()
    status = {s["version"]: s for s in server["rest"].status("tiny")["model_version_status"]}
    assert status["4"]["state"] == "END" and status["4"]["status"]["error_message"]
    assert server["rest"].predict("tiny", instances=X)["predictions"][0]["y"][0] == 5.0
    shutil.rmtree(root / "tiny" / "4")
