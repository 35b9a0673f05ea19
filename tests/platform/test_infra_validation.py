"""TFX's stock InfraValidator, run by the LocalDagRunner, starts the serving container through podman's Docker API
(tests/platform/docker_api.py) from the dlqos image made to start as tensorflow/serving does
(serving/standin.Containerfile), and gates the AtomicPusher: a model that answers is infra-blessed and pushed; a
model that loads but whose signature fails is neither. Verdicts are read from ML Metadata and the push directory."""
from __future__ import annotations

import logging
import os

import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx import version as tfx_version
from tfx.types import standard_artifacts

from common.config import InfraValidationConfig
from components.pusher import AtomicPusher
from pipeline.pipeline import infra_validator
from tests.helpers import pipeline_config
from tests.platform.containers import ROOT, podman
from tests.platform.docker_api import DockerApiProxy
from tests.platform.test_image import image  # noqa: F401  (the module fixture: scripts/build-image.sh)

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]
STANDIN_IMAGE = f"localhost/dlqos-standin:test-{os.getpid()}"


@pytest.fixture(scope="module")
def standin_image(image):  # noqa: F811
    podman("build", "--pull=never", "--build-arg", f"DLQOS_IMAGE={image}", "-t", STANDIN_IMAGE,
           "-f", os.path.join(ROOT, "serving", "standin.Containerfile"), os.path.join(ROOT, "serving"))
    yield STANDIN_IMAGE
    podman("rmi", "--force", STANDIN_IMAGE, check=False)


@pytest.fixture(scope="module")
def docker_api(tmp_path_factory):
    with DockerApiProxy(str(tmp_path_factory.mktemp("docker-api"))) as proxy:
        yield proxy


class _Scorer(tf.Module):
    """A served model on serialized tf.Examples with one float feature `x`; `broken` fails at every call."""

    def __init__(self, broken: bool):
        super().__init__()
        self.broken = broken

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        x = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        if self.broken:
            with tf.control_dependencies([tf.debugging.assert_less(x, -1.0, message="broken signature")]):
                x = tf.identity(x)
        return {"probabilities": tf.concat([x, 1 - x], axis=1)}


def _write_inputs(base: str, broken: bool) -> tuple:
    """A Model artifact directory (Format-Serving) and an Examples artifact directory with an eval split."""
    scorer = _Scorer(broken)
    model_dir = os.path.join(base, "model")
    tf.saved_model.save(scorer, os.path.join(model_dir, "Format-Serving"), signatures={"serving_default": scorer.serve})
    examples_dir = os.path.join(base, "examples")
    os.makedirs(os.path.join(examples_dir, "Split-eval"))
    with tf.io.TFRecordWriter(os.path.join(examples_dir, "Split-eval", "data.gz"), options="GZIP") as writer:
        for value in (0.1, 0.5, 0.9):
            feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[value]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    for directory, _, _ in os.walk(base):  # the container's uid 10001 reads the bind-mounted model
        os.chmod(directory, 0o755)
    return model_dir, examples_dir


def _run(base: str, broken: bool, docker_url: str, serving_image: str):
    """Importers -> the pipeline's InfraValidator -> AtomicPusher gated by its blessing alone, run by the
    LocalDagRunner; returns the config (its ML Metadata path and push directory)."""
    model_dir, examples_dir = _write_inputs(base, broken)
    config = pipeline_config(pipeline_root=os.path.join(base, "root"), metadata_path=os.path.join(base, "m.sqlite"),
                             serving_model_dir=os.path.join(base, "serving", "dense"),
                             infra_validation=InfraValidationConfig(docker_url, serving_image, max_loading_seconds=240))
    model = tfx.dsl.Importer(source_uri=model_dir, artifact_type=standard_artifacts.Model,
                             custom_properties={"tfx_version": tfx_version.__version__}).with_id("model")
    examples = tfx.dsl.Importer(source_uri=examples_dir, artifact_type=standard_artifacts.Examples,
                                properties={"split_names": '["eval"]'}).with_id("examples")
    validator = infra_validator(config, model.outputs["result"], examples.outputs["result"])
    pusher = AtomicPusher(model=model.outputs["result"], infra_blessing=validator.outputs["blessing"],
                          push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
                              base_directory=config.serving_model_dir))).with_id("Pusher")
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="infra-validation", pipeline_root=config.pipeline_root,
        components=[model, examples, validator, pusher],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)))
    return config


def _verdicts(config) -> dict:
    """From ML Metadata: the InfraBlessing's `blessed` and the PushedModel's `pushed` custom properties."""
    from ml_metadata.metadata_store import metadata_store

    store = metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path))
    found = {}
    for type_name, key in (("InfraBlessing", "blessed"), ("PushedModel", "pushed")):
        artifacts = store.get_artifacts_by_type(type_name)
        assert len(artifacts) == 1, (type_name, artifacts)
        found[key] = artifacts[0].custom_properties[key].int_value
        found[f"{key}_uri"] = artifacts[0].uri
    return found


def _pushed_versions(config) -> list:
    base = config.serving_model_dir
    return sorted(name for name in os.listdir(base) if name.isdigit()) if os.path.isdir(base) else []


def test_a_model_that_answers_is_infra_blessed_and_pushed(standin_image, docker_api, tmp_path):
    config = _run(str(tmp_path), False, docker_api.url, standin_image)
    verdicts = _verdicts(config)
    assert verdicts["blessed"] == 1 and os.path.exists(os.path.join(verdicts["blessed_uri"], "INFRA_BLESSED"))
    assert verdicts["pushed"] == 1
    versions = _pushed_versions(config)
    assert len(versions) == 1
    assert os.path.exists(os.path.join(config.serving_model_dir, versions[0], "saved_model.pb"))


def test_a_model_that_loads_but_cannot_answer_is_not_blessed_nor_pushed(standin_image, docker_api, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="absl")
    config = _run(str(tmp_path), True, docker_api.url, standin_image)
    verdicts = _verdicts(config)
    assert verdicts["blessed"] == 0 and os.path.exists(os.path.join(verdicts["blessed_uri"], "INFRA_NOT_BLESSED"))
    assert verdicts["pushed"] == 0
    assert _pushed_versions(config) == []
    # It loaded (the client sends requests only once GetModelStatus reports AVAILABLE) and Predict failed.
    assert "self._prediction_service.Predict(request)" in caplog.text
    assert "StatusCode.INVALID_ARGUMENT" in caplog.text and "broken signature" in caplog.text


def test_podman_reports_no_host_ip_and_the_proxy_fills_it(standin_image, docker_api):
    """Why the proxy: podman's own API reports a published port without the HostIp TFX's runner looks for."""
    import docker
    from tfx.components.infra_validator.model_server_runners import local_docker_runner

    reported = {}
    for name, url in (("podman", docker_api.podman_url), ("proxy", docker_api.url)):
        client = docker.DockerClient(base_url=url)
        container = client.containers.run(standin_image, entrypoint=["sleep", "120"], detach=True, auto_remove=True,
                                          publish_all_ports=True)
        try:
            container.reload()
            reported[name] = container.ports
        finally:
            container.stop(timeout=1)
            client.close()
    assert {mapping["HostIp"] for mapping in reported["podman"]["8500/tcp"]} == {""}
    with pytest.raises(ValueError, match="No HostPort found for ContainerPort=8500"):
        local_docker_runner._find_host_port(reported["podman"], 8500)
    assert int(local_docker_runner._find_host_port(reported["proxy"], 8500)) > 0
