"""Serving latency: in-process SavedModel calls vs the `dlqos serve` stand-in over gRPC and REST, batching off/on.

For the dense and cnn steps' models, one image per request, a fixed number of requests per cell: p50/p99
latency seen by the client, throughput (requests/s) and CPU per request of client and server process at each
concurrency, all side by side in one run. The stand-ins run as `dlqos serve` subprocesses (one plain, one with
--enable-batching and the parameters `dlqos serving-config` writes), as they would be deployed, so clients and
server do not share one interpreter. Batching off and on are compared at the most clients in alternating
rounds, so that load drifting on a shared machine hits both alike. Models are the steps' real `build_model()`
architectures with untrained weights (latency does not depend on the weights), exported with a
`serving_pixels` signature like `models.training.export_classifier`'s.

    scripts/runtime.sh python benchmarks/serving_latency.py [--requests 1000] [--clients 1 8 32] [--rounds 3]
                                                            [--large 2500 10000] [--large-rounds 2]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, Dict, List, NamedTuple, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402,F401

SIGNATURE = "serving_pixels"
IMAGE_SHAPE = (28, 28, 1)


class Cell(NamedTuple):
    p50_ms: float
    p99_ms: float
    requests_per_s: float
    client_cpu_ms: float  # CPU per request of this process: the clients (and the model, in-process)
    server_cpu_ms: float  # CPU per request of the stand-in process


def export_pixels_model(build_model: Callable, export_dir: str) -> None:
    """The step's Keras model behind a `serving_pixels` signature (float32 pixels [N,28,28] 0..255 ->
    probabilities, class_id), as export_classifier builds it minus the Transform layer (here: / 255)."""
    import tensorflow as tf

    height, width, _ = IMAGE_SHAPE
    module = tf.Module()
    module.model = build_model()

    @tf.function(input_signature=[tf.TensorSpec([None, height, width], tf.float32, name="pixels")])
    def serve_pixels(pixels):
        flat = tf.round(tf.clip_by_value(tf.reshape(pixels, [-1, height * width]), 0.0, 255.0)) / 255.0
        probabilities = module.model({"image": flat})
        return {"probabilities": probabilities, "class_id": tf.argmax(probabilities, axis=-1)}

    tf.saved_model.save(module, export_dir, signatures={SIGNATURE: serve_pixels.get_concrete_function()})


class StandInProcess:
    """`dlqos serve` on free ports in a child process; the ports are read from its start-up line."""

    def __init__(self, output_dir: str, batching: bool):
        self.log_path = os.path.join(output_dir, f"serve-batching-{batching}.log")
        command = [sys.executable, "-u", "-m", "dlqos", "serve", "--output-dir", output_dir, "--rest-port", "0",
                   "--grpc-port", "0", "--poll-seconds", "3600"] + (["--enable-batching"] if batching else [])
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)

    def wait_ready(self) -> str:
        """Block until the server announces its ports; returns that line."""
        line = self.process.stdout.readline()
        match = re.search(r"REST (http://\S+)\s+gRPC (\S+)", line)
        if not match:
            self.process.kill()
            with open(self.log_path) as log:
                raise RuntimeError(f"dlqos serve did not start: {line!r}\n{log.read()[-3000:]}")
        self.rest_url, self.grpc_target = match.groups()
        return line.strip()

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (/proc/<pid>/stat utime, stime)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # the command's Ctrl-C path stops the servers cleanly
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measure(make_call: Callable[[], Callable[[], object]], server: Optional[StandInProcess], clients: int,
            requests: int, warmup: int) -> Cell:
    """`clients` threads, each with its own client, share `requests` calls; a warm-up round runs first."""
    import numpy as np

    calls = [make_call() for _ in range(clients)]

    def round_of(count: int):
        tickets = iter(range(count))
        lock = threading.Lock()
        latencies: List[float] = []

        def client(call):
            while True:
                with lock:
                    if next(tickets, None) is None:
                        return
                start = time.perf_counter()
                call()
                latencies.append(time.perf_counter() - start)

        with ThreadPoolExecutor(clients) as pool:
            start = time.perf_counter()
            for future in [pool.submit(client, call) for call in calls]:
                future.result()  # a failed request fails the benchmark
            return latencies, time.perf_counter() - start

    def server_cpu() -> float:
        return server.cpu_seconds() if server else 0.0

    round_of(warmup)
    client_cpu = time.process_time()
    server_cpu_before = server_cpu()
    latencies, seconds = round_of(requests)
    per_request_ms = 1000 / requests
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    return Cell(p50, p99, requests / seconds, (time.process_time() - client_cpu) * per_request_ms,
                (server_cpu() - server_cpu_before) * per_request_ms)


def grpc_call(server: StandInProcess, model: str, image) -> Callable[[], object]:
    from serving.client import GrpcClient

    client = GrpcClient(server.grpc_target, retries=0)
    return lambda: client.predict(model, {"pixels": image}, signature=SIGNATURE)


def grpc_status_call(server: StandInProcess, model: str, image) -> Callable[[], object]:
    """GetModelStatus: a gRPC round trip through the stand-in that runs no model, the floor under Predict."""
    from serving.client import GrpcClient

    client = GrpcClient(server.grpc_target, retries=0)
    return lambda: client.status(model)


def rest_call(server: StandInProcess, model: str, image) -> Callable[[], object]:
    from serving.client import RestClient

    client = RestClient(server.rest_url, retries=0)
    instances = image.tolist()
    return lambda: client.predict(model, instances=instances, signature=SIGNATURE)


def in_process_call(function, image) -> Callable[[], object]:
    import tensorflow as tf

    return lambda: {key: value.numpy() for key, value in function(pixels=tf.constant(image)).items()}


def class_id(answer) -> int:
    """The predicted class in any path's answer (REST rows or output arrays)."""
    return answer["predictions"][0]["class_id"] if "predictions" in answer else int(answer["class_id"][0])


def large_requests(server: StandInProcess, model: str, sizes: List[int], rounds: int) -> None:
    """One REST request of N images in row format ("instances") and one in columnar format ("inputs"), alternated
    `rounds` times; the fastest of each is kept (other work on a shared machine only adds time). Row answers are
    built by converting each output once, so both formats should take time linear in N: N times 4 should take
    about 4x as long (the former per-row conversion of every output made row format quadratic: 16x)."""
    import json

    import numpy as np

    from serving.client import RestClient

    client = RestClient(server.rest_url, retries=0, timeout=600)
    print(f"\n{'model':<6} {'images':>7} {'MB':>6} {'row s':>8} {'columnar s':>10} {'row/col':>8}  "
          f"(one REST request each, fastest of {rounds})")
    best: Dict[int, List[float]] = {}
    for size in sizes:
        # whole pixel values: 10,000 images are 28 MB of JSON, under the stand-in's 32 MiB request limit
        images = np.random.default_rng(size).integers(0, 256, size=(size, 28, 28)).tolist()
        seconds: Dict[str, List[float]] = {"instances": [], "inputs": []}
        for _ in range(rounds):
            for key, times in seconds.items():
                started = time.perf_counter()
                answer = client.predict(model, signature=SIGNATURE, **{key: images})
                times.append(time.perf_counter() - started)
                assert len(answer.get("predictions") or answer["outputs"]["class_id"]) == size
        best[size] = [min(seconds["instances"]), min(seconds["inputs"])]
        megabytes = len(json.dumps({"instances": images}, separators=(",", ":"))) / 1e6
        print(f"{model:<6} {size:>7} {megabytes:>6.1f} {best[size][0]:>8.2f} {best[size][1]:>10.2f} "
              f"{best[size][0] / best[size][1]:>8.2f}", flush=True)
    first = sizes[0]
    for size in sizes[1:]:
        growth = size / first
        print(f"{size} / {first} images ({growth:g}x): time x{best[size][0] / best[first][0]:.2f} row, "
              f"x{best[size][1] / best[first][1]:.2f} columnar (linear: x{growth:g}, quadratic: x{growth ** 2:g})")


def row(model: str, path: str, clients: int, cell: Cell, extra: str = "") -> str:
    return (f"{model:<6} {path:<14} {clients:>7} {cell.p50_ms:>8.2f} {cell.p99_ms:>8.2f} {cell.requests_per_s:>8.0f}"
            f" {cell.client_cpu_ms:>10.2f} {cell.server_cpu_ms:>10.2f}{extra}")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=["dense", "cnn"], default=["dense", "cnn"])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per cell")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests before each cell")
    parser.add_argument("--rounds", type=int, default=3,
                        help="batching off/on cells at the most clients, alternated this many times")
    parser.add_argument("--large", type=int, nargs="*", default=[2500, 10000],
                        help="images in the single large row/columnar REST requests (none: skip)")
    parser.add_argument("--large-rounds", type=int, default=2, help="times each large request is sent")
    return parser.parse_args(argv)


def path_factories(function, model: str, image, servers: Dict[str, StandInProcess]) -> Dict[str, tuple]:
    """Path name -> (a factory of one client's call, the server it measures or None), all paths checked to give
    the same answer first; then the GetModelStatus floor."""
    plain = servers["plain"]
    batching = servers["batching"]
    factories = {
        "in-process": (partial(in_process_call, function, image), None),
        "gRPC": (partial(grpc_call, plain, model, image), plain),
        "REST": (partial(rest_call, plain, model, image), plain),
        "gRPC batching": (partial(grpc_call, batching, model, image), batching),
        "REST batching": (partial(rest_call, batching, model, image), batching),
    }
    answers = {name: class_id(make()()) for name, (make, _) in factories.items()}
    assert len(set(answers.values())) == 1, f"paths disagree: {answers}"
    factories["gRPC status"] = (partial(grpc_status_call, plain, model, image), plain)
    return factories


def bench_model(model: str, factories: Dict[str, tuple], args, grid: Dict[tuple, Cell]) -> Dict[str, List[float]]:
    """The model's grid cells (into grid) at every client count, then batching off/on alternated at the most
    clients; returns per protocol the on/off throughput ratio of each round."""
    fewest = min(args.clients)
    most = max(args.clients)
    for path in ("in-process", "gRPC status", "gRPC", "REST"):
        for clients in (args.clients if path != "gRPC status" else [fewest]):
            cell = grid[model, path, clients] = measure(*factories[path], clients, args.requests, args.warmup)
            print(row(model, path, clients, cell), flush=True)
    # Off and on alternate, so load that drifts during the run (2 shared cores) hits both alike.
    rounds = {path: [] for path in ("gRPC", "gRPC batching", "REST", "REST batching")}
    for _ in range(args.rounds):
        for path, cells in rounds.items():
            cells.append(measure(*factories[path], most, args.requests, args.warmup))
    for path, cells in rounds.items():
        median = sorted(cells, key=lambda c: c.requests_per_s)[len(cells) // 2]
        print(row(model, path, most, median, "  median of req/s " + " ".join(
            f"{c.requests_per_s:.0f}" for c in cells)), flush=True)
    # on/off of the same round: measured back to back
    return {protocol: [on.requests_per_s / off.requests_per_s
                       for off, on in zip(rounds[protocol], rounds[f"{protocol} batching"])]
            for protocol in ("gRPC", "REST")}


def print_goals(args, grid: Dict[tuple, Cell], gains: Dict[tuple, List[float]]) -> None:
    import numpy as np

    fewest = min(args.clients)
    most = max(args.clients)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (this run's own threads included)\ngoals")
    for model in args.models:
        in_process = grid[model, "in-process", fewest].p50_ms
        grpc_ratio = grid[model, "gRPC", fewest].p50_ms / in_process
        print(f"{model:<6} stand-in gRPC p50 at {fewest} client(s) / in-process p50: {grpc_ratio:.2f}x "
              f"(goal <= 2x: {'met' if grpc_ratio <= 2 else 'not met'}; a GetModelStatus round trip alone is "
              f"{grid[model, 'gRPC status', fewest].p50_ms / in_process:.2f}x)")
        for protocol in ("gRPC", "REST"):
            gain = float(np.median(gains[model, protocol]))
            print(f"{model:<6} {protocol} throughput at {most} clients with batching / without: {gain:.2f}x "
                  f"(goal > 1: {'met' if gain > 1 else 'not met'}; median of the rounds' "
                  + " ".join(f"{g:.2f}" for g in gains[model, protocol]) + ")")


def main() -> None:
    args = parse_args()

    import numpy as np
    import tensorflow as tf

    from models.steps import cnn, dense

    builders = {"dense": dense.build_model, "cnn": cnn.build_model}
    header = (f"{'model':<6} {'path':<14} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} "
              f"{'client CPU':>10} {'server CPU':>10}  (CPU: ms per request)")
    workdir = tempfile.mkdtemp(prefix="bench-serving-")
    servers: Dict[str, StandInProcess] = {}
    try:
        for model in args.models:
            export_pixels_model(builders[model], os.path.join(workdir, "serving", model, "1"))
        servers = {"plain": StandInProcess(workdir, batching=False), "batching": StandInProcess(workdir, batching=True)}
        for server in servers.values():
            print(server.wait_ready(), flush=True)
        image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28)).astype(np.float32)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.requests} requests per cell "
              f"after {args.warmup} unmeasured, 1 image each\n{header}", flush=True)
        grid: Dict[tuple, Cell] = {}
        gains: Dict[tuple, List[float]] = {}
        for model in args.models:
            loaded = tf.saved_model.load(os.path.join(workdir, "serving", model, "1"))  # owns the variables
            factories = path_factories(loaded.signatures[SIGNATURE], model, image, servers)
            for protocol, ratios in bench_model(model, factories, args, grid).items():
                gains[model, protocol] = ratios
        if args.large:
            large_requests(servers["plain"], args.models[0], args.large, args.large_rounds)
        print_goals(args, grid, gains)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
