import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving.warmup import WARMUP_FILE, write_warmup
from tests.helpers import save_tiny_model


def test_warmup_has_one_request_per_numeric_signature(tmp_path):
    model = save_tiny_model(str(tmp_path / "m"))
    assert write_warmup(model, "tiny") == 1
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(str(tmp_path / "m" / WARMUP_FILE))]
    assert len(records) == 1
    request = records[0].predict_log.request
    assert request.model_spec.name == "tiny" and request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["x"]).shape == (1, 3)
    # the request really runs against the model
    loaded = tf.saved_model.load(model)
    out = loaded.signatures["serving_default"](x=tf.constant(tf.make_ndarray(request.inputs["x"])))
    assert out["y"].shape == (1, 3)
