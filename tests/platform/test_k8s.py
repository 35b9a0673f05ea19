"""Render every kustomize overlay with kubectl and check the objects; every object is validated offline against the
Kubernetes OpenAPI schemas (kubernetes-validate). tensorflow-serving-api does not ship the batching and monitoring
protos, so those files are checked by field; the models.config the serving pod writes is run in
tests/platform/test_image.py."""
import os

import pytest
import yaml

from dlqos.cli import build_parser
from common.config import SERVING_IMAGE
from models.steps import STEPS
from tests.platform.containers import K8S, render, rendered, scheduled_pod

REQUIRED_KINDS = {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "Job"}


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
    gpu = render("gpu")
    prod = render("prod")
    container = gpu["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "tensorflow/serving:2.19.1-gpu"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--strategy" in gpu["Job"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert prod["Deployment"]["spec"]["replicas"] == 3 and prod["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 10


def test_configmap_files_parse_as_tf_serving_reads_them():
    data = render("dev")["ConfigMap"]["data"]
    assert set(data) == {"batching.config", "monitoring.config"}  # models.config: the pod writes its own
    fields = {line.split()[0] for line in data["batching.config"].splitlines() if line.strip()}
    assert fields == {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
    assert "enable: true" in data["monitoring.config"] and '"/monitoring/prometheus/metrics"' in data["monitoring.config"]


@pytest.mark.parametrize("overlay", ["dev", "gpu", "prod", "scheduled"])
def test_every_object_validates_against_the_kubernetes_schemas(overlay):
    """Offline OpenAPI schemas of the newest Kubernetes release kubernetes-validate ships, strict: an unknown
    or misplaced field fails, as `kubectl apply --validate=strict` would."""
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    for obj in rendered(overlay):
        kubernetes_validate.validate(obj, latest_version(), strict=True)


def _mounts(container: dict) -> dict:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


@pytest.mark.parametrize("overlay", ["dev", "gpu", "prod"])
def test_serving_pod_pins_versions_that_load_before_tf_serving_starts(overlay):
    """TF Serving reads the models.config the init container wrote with `dlqos serving-config` over the same models
    volume; the refresh sidecar runs the init container's arguments in its loop, with its image and mounts."""
    pod = render(overlay)["Deployment"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    serving, refresh = pod["containers"]
    args = build_parser().parse_args(init["args"])
    assert args.command == "serving-config"
    flags = dict(flag.partition("=")[::2] for flag in serving["args"])
    config_dir = os.path.dirname(flags["--model_config_file"])
    assert "--allow_version_labels_for_unavailable_models" in flags
    written = _mounts(init)
    read = _mounts(serving)
    assert _without(written[os.path.join(args.output_dir, "serving")], "mountPath") == \
        _without(read[args.base_path], "mountPath")
    assert written[os.path.join(args.output_dir, "serving-config")]["name"] == read[config_dir]["name"]
    assert {"name": read[config_dir]["name"], "emptyDir": {}} in pod["volumes"]
    assert refresh["args"] == init["args"] and refresh["command"][:2] == ["sh", "-c"]
    assert 'dlqos "$@"' in refresh["command"][2]
    assert f"ls -d {os.path.join(args.output_dir, 'serving')}/*/*/ " in refresh["command"][2]  # what it watches
    assert _without(refresh, "name", "command", "resources") == _without(init, "name", "resources")
    assert init["image"].startswith("registry.example.com/dlqos:") and init["securityContext"]["readOnlyRootFilesystem"]


def _without(mapping: dict, *keys: str) -> dict:
    return {key: value for key, value in mapping.items() if key not in keys}


def test_scheduled_overlay_runs_the_jobs_pod_nightly_without_overlap():
    """The CronJob in place of the one-off Job: its jobTemplate is the base Job's spec (one definition, copied by
    kustomize), plus the data root mounted read-only and arguments that read the dataset from it."""
    objects = rendered("scheduled")
    assert sorted(o["kind"] for o in objects) == sorted([*REQUIRED_KINDS - {"Job"}, "CronJob", "PersistentVolumeClaim"])
    assert all(o["metadata"]["namespace"] == "dlqos-scheduled" for o in objects)
    cron_job = next(o for o in objects if o["kind"] == "CronJob")["spec"]
    assert cron_job["concurrencyPolicy"] == "Forbid" and len(cron_job["schedule"].split()) == 5
    with open(os.path.join(K8S, "base", "pipeline-job.yaml")) as f:
        job = yaml.safe_load(f)["spec"]
    pod = scheduled_pod()
    job_pod = job["template"]["spec"]
    assert cron_job["jobTemplate"]["spec"]["backoffLimit"] == job["backoffLimit"]
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    data_volume = {"name": "raw-data", "persistentVolumeClaim": {"claimName": "dlqos-raw-data", "readOnly": True}}
    assert pod["volumes"] == job_pod["volumes"] + [data_volume] and "dlqos-raw-data" in claims
    assert _without(pod, "volumes", "containers") == _without(job_pod, "volumes", "containers")
    container = pod["containers"][0]
    job_container = job_pod["containers"][0]
    assert container["volumeMounts"] == job_container["volumeMounts"] + [
        {"name": "raw-data", "mountPath": "/data", "readOnly": True}]
    assert _without(container, "args", "volumeMounts") == _without(job_container, "args", "volumeMounts")
    args = build_parser().parse_args(container["args"])
    job_args = build_parser().parse_args(job_container["args"])
    assert (args.command, args.step, args.profile) == ("run", job_args.step, "full")
    assert args.data_dir == f"/data/{STEPS[args.step].dataset}" and args.output_dir == job_args.output_dir


def test_schema_validation_catches_a_misplaced_field():
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    deployment = render("dev")["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True  # belongs in securityContext
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)


def test_the_serving_image_infra_validation_starts_is_the_deployments():
    with open(os.path.join(K8S, "base", "serving-deployment.yaml")) as f:
        deployment = next(doc for doc in yaml.safe_load_all(f) if doc and doc.get("kind") == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == SERVING_IMAGE
