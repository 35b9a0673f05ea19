"""Render every kustomize overlay with kubectl and check the objects; models.config is parsed with the real
TF Serving proto and every object is validated offline against the Kubernetes OpenAPI schemas (kubernetes-validate).
tensorflow-serving-api does not ship the batching and monitoring protos, so those files are checked by field."""
import os
import shutil
import subprocess

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

K8S = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "k8s")
REQUIRED_KINDS = {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "Job"}


def render(overlay: str) -> dict:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required (Debian package kubernetes-client; the sandbox installs it)"
    done = subprocess.run([kubectl, "kustomize", os.path.join(K8S, "overlays", overlay)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    return {o["kind"]: o for o in objects}


@pytest.mark.parametrize("overlay", ["dev", "gpu", "prod"])
def test_overlay_renders_complete_objects(overlay):
    objects = render(overlay)
    assert set(objects) == REQUIRED_KINDS
    for obj in objects.values():
        assert obj["apiVersion"] and obj["metadata"]["name"] and obj["metadata"]["namespace"].startswith("dlqos")
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    serving = pod["containers"][0]
    assert serving["image"].startswith("tensorflow/serving:2.19.1")
    assert serving["securityContext"]["readOnlyRootFilesystem"] is True
    assert {p["containerPort"] for p in serving["ports"]} == {8500, 8501}
    for probe in ("readinessProbe", "livenessProbe"):
        assert serving[probe]["httpGet"]["path"].startswith("/v1/models/")
    assert serving["resources"]["requests"] and serving["resources"]["limits"]
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"].items() <= \
        objects["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    job = objects["Job"]["spec"]["template"]["spec"]
    assert job["securityContext"]["runAsNonRoot"] is True and job["containers"][0]["args"][0] == "run"


def test_gpu_and_prod_overlays_change_what_they_say():
    gpu, prod = render("gpu"), render("prod")
    container = gpu["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "tensorflow/serving:2.19.1-gpu"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--strategy" in gpu["Job"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert prod["Deployment"]["spec"]["replicas"] == 3 and prod["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 10


def test_configmap_files_parse_with_tf_serving_protos():
    data = render("dev")["ConfigMap"]["data"]
    models = text_format.Parse(data["models.config"], model_server_config_pb2.ModelServerConfig())
    assert [c.name for c in models.model_config_list.config] == ["dense"]
    assert models.model_config_list.config[0].model_version_policy.latest.num_versions == 2
    fields = {line.split()[0] for line in data["batching.config"].splitlines() if line.strip()}
    assert fields == {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
    assert "enable: true" in data["monitoring.config"] and '"/monitoring/prometheus/metrics"' in data["monitoring.config"]


@pytest.mark.parametrize("overlay", ["dev", "gpu", "prod"])
def test_every_object_validates_against_the_kubernetes_schemas(overlay):
    """Offline OpenAPI schemas of the newest Kubernetes release kubernetes-validate ships, strict: an unknown
    or misplaced field fails, as `kubectl apply --validate=strict` would."""
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    for obj in render(overlay).values():
        kubernetes_validate.validate(obj, latest_version(), strict=True)


def test_schema_validation_catches_a_misplaced_field():
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    deployment = render("dev")["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True  # belongs in securityContext
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)
