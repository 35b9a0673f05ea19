"""Running the production artifacts with podman: the image (scripts/build-image.sh) and Kubernetes pod specs
translated flag by flag into `podman run`, the way the kubelet would start them (test harness, not product)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import yaml

from tests.helpers import ROOT

K8S = os.path.join(ROOT, "k8s")
PODMAN = os.path.join(ROOT, "scripts", "podman.sh")


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done


def build_image() -> subprocess.CompletedProcess:
    """scripts/build-image.sh, exactly as `make image` runs it; its last stdout line names the tags and size."""
    return subprocess.run([os.path.join(ROOT, "scripts", "build-image.sh")], capture_output=True, text=True,
                          timeout=1800)


def image_env(image: str) -> Dict[str, str]:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    return dict(item.split("=", 1) for item in config.get("Env", []))


def manifest(relative_path: str, kind: str) -> dict:
    """The first object of `kind` in a YAML file of the repository."""
    with open(os.path.join(ROOT, relative_path)) as f:
        return next(doc for doc in yaml.safe_load_all(f) if doc and doc.get("kind") == kind)


def rendered(overlay: str) -> list:
    """The overlay's objects as `kubectl kustomize` renders them."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required (Debian package kubernetes-client; the sandbox installs it)"
    done = subprocess.run([kubectl, "kustomize", os.path.join(K8S, "overlays", overlay)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [o for o in yaml.safe_load_all(done.stdout) if o]


def render(overlay: str) -> dict:
    """The objects of an overlay with one object per kind, by kind."""
    objects = rendered(overlay)
    by_kind = {o["kind"]: o for o in objects}
    assert len(by_kind) == len(objects), [o["kind"] for o in objects]
    return by_kind


def scheduled_pod() -> dict:
    """The pod the scheduled overlay's CronJob starts."""
    cron_job = next(o for o in rendered("scheduled") if o["kind"] == "CronJob")
    return cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@dataclass
class PodRun:
    """A pod spec's (first) container, with a host directory standing in for each of the pod's volumes."""

    pod_spec: dict
    volume_dirs: Mapping[str, str]
    extra_flags: List[str] = field(default_factory=list)

    @property
    def container(self) -> dict:
        return self.pod_spec["containers"][0]

    def flags(self) -> List[str]:
        """podman flags for the pod's and the container's securityContext, env, volume mounts and memory."""
        pod_security = self.pod_spec.get("securityContext", {})
        security = self.container.get("securityContext", {})
        flags = ["--rm", "--read-only-tmpfs=false"]
        if "runAsUser" in pod_security or "runAsUser" in security:
            user = str(security.get("runAsUser", pod_security.get("runAsUser")))
            group = security.get("runAsGroup", pod_security.get("runAsGroup"))
            flags += ["--user", user if group is None else f"{user}:{group}"]
        if "fsGroup" in pod_security:
            flags += ["--group-add", str(pod_security["fsGroup"])]
        if security.get("readOnlyRootFilesystem"):
            flags.append("--read-only")
        if security.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        for capability in security.get("capabilities", {}).get("drop", []):
            flags += ["--cap-drop", capability]
        for variable in self.container.get("env", []):
            flags += ["--env", f"{variable['name']}={variable['value']}"]
        for mount in self.container.get("volumeMounts", []):
            options = ":ro" if mount.get("readOnly") else ""
            source = os.path.join(self.volume_dirs[mount["name"]], mount.get("subPath", ""))
            os.makedirs(source, exist_ok=True)
            flags += ["--volume", f"{source.rstrip('/')}:{mount['mountPath']}{options}"]
        memory = self.container.get("resources", {}).get("limits", {}).get("memory")
        if memory:
            flags += ["--memory", memory.replace("Gi", "g").replace("Mi", "m")]
        return flags + self.extra_flags

    def command(self, image: str, args: Optional[List[str]] = None) -> List[str]:
        """`podman run` of this container with `image`; the manifest's args unless others are given."""
        entrypoint = self.container.get("command")
        head = ["--entrypoint", json.dumps(entrypoint)] if entrypoint else []
        return ["run", *self.flags(), *head, image, *(self.container.get("args", []) if args is None else args)]


def fs_group_volume(path: str, fs_group: int) -> str:
    """Make a host directory look like a volume the kubelet prepared for `fsGroup`: group-owned and group-writable,
    directories setgid."""
    os.makedirs(path, exist_ok=True)
    for directory, _, files in os.walk(path):
        os.chown(directory, -1, fs_group)
        os.chmod(directory, 0o2775)
        for name in files:
            os.chown(os.path.join(directory, name), -1, fs_group)
            os.chmod(os.path.join(directory, name), 0o664)
    return path
