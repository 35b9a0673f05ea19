"""podman's Docker-compatible API for TFX's LocalDockerRunner (test harness, not product).

`podman system service` serves the Docker API on a unix socket. Measured with podman 4.3.1 (API 1.41): a container
started with publish_all_ports reports each published port as {"HostIp": "", "HostPort": "45275"}, where Docker
reports "0.0.0.0" (podman issue #17780); TFX 1.21's LocalDockerRunner looks only for HostIp "0.0.0.0" and fails
every try with "No HostPort found for ContainerPort=8500". DockerApiProxy forwards every request to podman
unchanged and fills that one field in container inspections, so the stock InfraValidator runs against podman.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import socketserver
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.platform.containers import PODMAN

_INSPECT = re.compile(r"(/v[\d.]+)?/containers/[^/]+/json")
_HOP_BY_HOP = {"transfer-encoding", "connection", "content-length", "keep-alive"}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=600)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def _all_addresses(inspection: bytes) -> bytes:
    """A container inspection with each published port's empty HostIp (podman: every address) as Docker's 0.0.0.0."""
    container = json.loads(inspection)
    for mappings in (container.get("NetworkSettings", {}).get("Ports") or {}).values():
        for mapping in mappings or []:
            mapping["HostIp"] = mapping.get("HostIp") or "0.0.0.0"
    return json.dumps(container).encode()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""  # set on the subclass made per proxy

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        connection = _UnixConnection(self.upstream)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status == 200 and self.command == "GET" and _INSPECT.fullmatch(self.path.split("?")[0]):
            payload = _all_addresses(payload)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args):
        pass


class DockerApiProxy:
    """`podman system service` on one unix socket (`podman_url`) and the HostIp-filling proxy on another (`url`)."""

    def __init__(self, directory: str):
        self._podman_socket = os.path.join(directory, "podman.sock")
        self._socket = os.path.join(directory, "docker.sock")
        self.podman_url = f"unix://{self._podman_socket}"
        self.url = f"unix://{self._socket}"
        self._service = None
        self._server = None

    def __enter__(self) -> "DockerApiProxy":
        self._service = subprocess.Popen([PODMAN, "system", "service", "--time=0", f"unix://{self._podman_socket}"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(self._podman_socket):
            if self._service.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"podman system service did not start: {self._service.stderr.read()!r}")
            time.sleep(0.2)
        handler = type("Forward", (_Forward,), {"upstream": self._podman_socket})
        self._server = socketserver.ThreadingUnixStreamServer(self._socket, handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        os.killpg(self._service.pid, 15)
        self._service.wait(timeout=60)
