"""A step's run read back from ML Metadata (runs.StepRun): the same record for `dlqos run`'s summary and the report,
read from artifacts written to disk as the Trainer and the DeepDream component write them."""
import json

from ml_metadata.proto import metadata_store_pb2

from dlqos import metadata, runs
from models.steps import STEPS


def _artifact(uri: str) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact()
    artifact.uri = uri
    return artifact


def _node(node_id: str, outputs: dict) -> metadata.NodeExecution:
    return metadata.NodeExecution(node_id, "COMPLETE", 2.5,
                                  outputs={key: [_artifact(uri)] for key, uri in outputs.items()})


def test_a_trained_run_reads_its_record_and_figures_and_prints_the_summary(tmp_path):
    (tmp_path / "training.json").write_text(json.dumps({"history": {"loss": [1.0]}, "seed": 7}))
    (tmp_path / "b.png").write_bytes(b"png")
    (tmp_path / "a.png").write_bytes(b"png")
    run = metadata.PipelineRun("dlqos-dense", "r1", {"Trainer": _node("Trainer", {"model": str(tmp_path)})})
    read = runs.read_step_run(run, STEPS["dense"])
    assert read.training == {"history": {"loss": [1.0]}, "seed": 7} and read.dreams_dir is None
    assert read.images == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert read.component_seconds == {"Trainer": 2.5} and read.status == "interrupted"
    assert runs.result_summary(read).splitlines() == [
        "dense: run r1: finished", f"  history:   {tmp_path / 'training.json'}",
        "  baseline:  none (first blessed model)"]
    assert json.loads(runs.result_json(read)) == {
        "step": "dense", "run_id": "r1", "blessed": None, "pushed_to": None, "model_dir": str(tmp_path),
        "evaluation_dir": None, "metrics": {}, "baseline_model": None, "dreams_dir": None,
        "training_record": str(tmp_path / "training.json")}


def test_a_deepdream_run_reads_dreams_json_as_its_record(tmp_path):
    (tmp_path / "dreams.json").write_text(json.dumps({"backbone": "mobilenet_v2"}))
    (tmp_path / "dreams.png").write_bytes(b"png")
    run = metadata.PipelineRun("dlqos-deepdream", "r2", {"DeepDream": _node("DeepDream", {"dreams": str(tmp_path)})})
    read = runs.read_step_run(run, STEPS["deepdream"])
    assert read.training == {"backbone": "mobilenet_v2"} and read.status == "finished"
    assert read.model_dir is None and read.dreams_dir == str(tmp_path) and read.training_record is None
    assert read.images == [str(tmp_path / "dreams.png")]
    assert runs.result_summary(read).splitlines() == ["deepdream: run r2: finished", f"  dreams:    {tmp_path}"]


def _validation_result(directory, failures) -> str:
    """TFMA's `validations` file as the Evaluator writes it: one ValidationResult record."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import validation_result_pb2

    result = validation_result_pb2.ValidationResult(validation_ok=False)
    parsed = [json_format.ParseDict(failure, validation_result_pb2.ValidationFailure()) for failure in failures]
    result.metric_validations_per_slice.add(failures=parsed)
    with tf.io.TFRecordWriter(str(directory / "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())
    assert not tfma.load_validation_result(str(directory)).validation_ok
    return str(directory)


def test_an_unblessed_run_prints_each_failed_threshold_with_its_values_and_the_baseline(tmp_path):
    from dlqos.evaluation import validation

    evaluation = _validation_result(tmp_path, [
        {"metricKey": {"name": "example_count"}, "metricValue": {"doubleValue": 20.0},
         "metricThreshold": {"valueThreshold": {"lowerBound": 50.0}}},
        {"metricKey": {"name": "sparse_categorical_accuracy", "isDiff": True}, "metricValue": {"doubleValue": -0.05},
         "metricThreshold": {"changeThreshold": {"absolute": -0.01, "direction": "HIGHER_IS_BETTER"}},
         "message": "regressed"}])
    result = runs.StepRun(step=STEPS["dense"], run_id="r2", blessed=False, pushed_to=None,
                          baseline_model="/out/Trainer/model/3", model_dir=None, training=None,
                          evaluation_dir=evaluation, validation=validation(evaluation),
                          slices={"Overall": {"example_count": 20.0, "sparse_categorical_accuracy": 0.8}})
    lines = runs.result_summary(result).splitlines()
    assert lines[0] == "dense: run r2: NOT blessed, nothing pushed"
    assert lines[1] == "  metrics:   example_count=20, sparse_categorical_accuracy=0.8000"
    assert lines[2] == "  failed:    Overall: example_count = 20, needs >= 50"
    assert lines[3] == ("  failed:    Overall: sparse_categorical_accuracy = 0.8000 vs baseline 0.8500: change -0.0500, "
                        "needs >= -0.0100 (regressed)")
    assert "  baseline:  /out/Trainer/model/3" in lines
