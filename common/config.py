"""Typed configuration. It flows one way: CLI flags -> these dataclasses -> create_pipeline -> custom_config."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
import typing
from typing import Mapping, Optional

from common.errors import ConfigError

PROFILES = ("quick", "full")
# Beam's DirectRunner first tries to download the Prism runner binary from GitHub (no network here), then
# falls back to FnApiRunner, its batch engine. Naming FnApiRunner skips the download; in-memory mode in one
# process is fastest for the small local data. Pass --beam-arg to use multi_processing or a remote runner.
# TFMA metric class names evaluated for a classifier; "module.Class" names a custom Keras metric (models.metrics).
CLASSIFIER_METRICS = ("SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "models.metrics.SparseMeanSquaredError")
# Beam's in-process runner. Its workers share the driver's packages, so they need no extra requirements: saying so
# (an empty requirements file) spares each Beam component TFX's copy of itself packaged as an sdist for remote
# workers (tfx.utils.dependency_utils, about 2-4 s per component here), which an in-process worker never installs.
DEFAULT_BEAM_ARGS = ("--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1",
                     "--requirements_file=/dev/null")
# models.optimizers builds these; named here so the CLI and configs check them without importing TensorFlow.
# nesterov: momentum with Nesterov's look-ahead; swats: Adam that switches to SGD (Keskar & Socher 2017).
OPTIMIZERS = ("adam", "sgd", "momentum", "nesterov", "rmsprop", "adamw", "swats")
ADAPTIVE_OPTIMIZERS = ("adam", "rmsprop", "adamw", "swats")  # the profiles' learning rates are tuned for these
LR_SCHEDULES = ("constant", "cosine", "exponential")  # decays over each training phase (models.optimizers)
# The TF Serving image the serving Deployment pins (k8s/base/serving-deployment.yaml; a test keeps them equal).
SERVING_IMAGE = "tensorflow/serving:2.19.1"


def positive_int(value, name: str) -> int:
    """A count or size (epochs, steps, examples, batch) is a whole number >= 1: 0 or -5 is refused up front, never
    read as "not given" (that is None) nor passed on to fail minutes later."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def real_number(value, name: str, above: Optional[float] = None, at_least: Optional[float] = None,
                below: Optional[float] = None) -> float:
    """A rate or norm (learning rate, weight decay, dropout, clip norm) is a finite number within its bounds:
    refused where it is given, not when the Trainer or Keras trips over it minutes later."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    bounds = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else "",
              f"< {below:g}" if below is not None else ""]
    if not math.isfinite(number) or (above is not None and number <= above) or (
            at_least is not None and number < at_least) or (below is not None and number >= below):
        raise ConfigError(f"{name} must be a number {' and '.join(b for b in bounds if b)}, got {value!r}")
    return number


def default_learning_rate(optimizer: str, profile_rate: float) -> float:
    """Without --learning-rate: the profile's rate, tuned for Adam, for the adaptive optimizers; ten times it for
    the SGD family, which has no per-weight scaling (1e-3 -> 1e-2, Keras' own SGD default)."""
    return profile_rate if optimizer in ADAPTIVE_OPTIMIZERS else 10 * profile_rate


def one_of(value, name: str, choices) -> str:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r} (have: {', '.join(choices)})")
    return value


@dataclass(frozen=True)
class OptimizerConfig:
    """How the Trainer updates the weights (built by models.optimizers); the default is the study's Adam.

    weight_decay: for adamw its decoupled decay (None: Keras' 0.004); for the others an L2 penalty
    weight_decay/2 * sum of the squared kernels added to the loss. clip_norm: the gradients' global norm bound.
    """

    name: str = "adam"
    schedule: str = "constant"
    weight_decay: Optional[float] = None
    clip_norm: Optional[float] = None

    def __post_init__(self):
        one_of(self.name, "optimizer", OPTIMIZERS)
        one_of(self.schedule, "learning-rate schedule", LR_SCHEDULES)
        if self.weight_decay is not None:
            real_number(self.weight_decay, "weight decay", at_least=0)
        if self.clip_norm is not None:
            real_number(self.clip_norm, "clip norm", above=0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "OptimizerConfig":
        """Back from custom_config; a key this version does not know is an error, not ignored."""
        return cls(**known_fields(cls, values, "optimizer settings"))


def known_fields(cls, values: Mapping, what: str) -> dict:
    """`values` as keyword arguments for the dataclass `cls`: a key it does not have (a typo, or a setting from
    another version) is an error naming it, never silently dropped."""
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {what} {sorted(unknown)} in custom_config")
    return dict(values)


@dataclass(frozen=True)
class ModelConfig:
    """A step's model hyper-parameters; each step subclasses it with typed, defaulted fields (steps/__init__.py).
    --model-param keys and types come from the fields; the Trainer gets as_dict() in custom_config["model"] and
    run_fn rebuilds the same class with from_dict, so step code reads attributes, not string keys."""

    @classmethod
    def params(cls) -> dict:
        """Field name -> type (int, float, str, tuple[int, ...]): what --model-param accepts for this step."""
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    def as_dict(self) -> dict:
        """JSON-ready (tuples as lists): custom_config["model"], or a component's parameters."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping) -> "ModelConfig":
        """Defaults under `values` (a profile's overrides and --model-param); an unknown key is an error."""
        values = known_fields(cls, values, f"{cls.__name__} parameters")
        kinds = cls.params()
        return cls(**{key: tuple(value) if typing.get_origin(kinds[key]) is tuple else value
                      for key, value in values.items()})


def parse_param(kind, text: str):
    """A --model-param value as its field's type; a tuple field takes comma-separated items ("0,20,40,60")."""
    if typing.get_origin(kind) is tuple:
        return tuple(typing.get_args(kind)[0](item) for item in text.split(",") if item.strip())
    return kind(text)


def param_type_name(kind) -> str:
    return f"comma-separated {typing.get_args(kind)[0].__name__}s" if typing.get_origin(kind) is tuple \
        else kind.__name__


@dataclass(frozen=True)
class Profile:
    """How much data and training a study profile uses for one step (None = the whole split)."""

    max_train: Optional[int]
    max_eval: Optional[int]
    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    min_value: Optional[float] = None  # overrides the step gate's absolute floor for this profile
    model: Mapping = field(default_factory=dict)  # overrides of the step's ModelConfig defaults (steps/__init__.py)


@dataclass(frozen=True)
class StepPlan:
    """How many steps the Trainer takes, fixed in run_fn: only there are the replica count (the strategy) and the
    example counts (the data, possibly uploaded after compiling) both known."""

    epochs: int
    steps_per_epoch: int
    train_steps: int  # optimizer steps in all; less than epochs * steps_per_epoch when the last epoch is cut short
    eval_steps: int
    global_batch_size: int  # what one step consumes over all replicas


@dataclass(frozen=True)
class TuningConfig:
    """A KerasTuner random search by TFX's Tuner before the Trainer, which trains with the best values found.

    The space comes from the TrainingConfig (models.tuning.search_space): the learning rate within a factor
    learning_rate_span of the configured one (log scale), the optimizer among `optimizers`, the dropout rate up to
    max_dropout (steps whose model has Dropout layers) and the widths a step's ModelConfig marks as tunable. The
    first trial is the configuration as given, the next ones random. Budget: max_trials trials; no trial starts
    after max_seconds (None: no time limit). trial_epochs: each trial's epochs (None: the Trainer's).
    """

    max_trials: int = 4
    max_seconds: Optional[float] = None
    trial_epochs: Optional[int] = None
    # The adaptive ones by default: the learning-rate range is centred on the configured (profile) rate, which suits
    # them; the SGD family wants about 10x (default_learning_rate) and mostly lost at it (docs/benchmarks.md).
    optimizers: tuple = ADAPTIVE_OPTIMIZERS
    learning_rate_span: float = 10.0
    max_dropout: float = 0.5
    seed: int = 42

    def __post_init__(self):
        positive_int(self.max_trials, "max_trials")
        if self.trial_epochs is not None:
            positive_int(self.trial_epochs, "trial_epochs")
        if self.max_seconds is not None:
            real_number(self.max_seconds, "tuning max_seconds", above=0)
        if not self.optimizers:
            raise ConfigError("tuning needs at least one optimizer")
        for name in self.optimizers:
            one_of(name, "optimizer", OPTIMIZERS)
        real_number(self.learning_rate_span, "learning_rate_span", at_least=1)
        real_number(self.max_dropout, "max_dropout", above=0, below=1)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "optimizers": list(self.optimizers)}

    @classmethod
    def from_dict(cls, values: Mapping) -> "TuningConfig":
        """Back from custom_config; a key this version does not know is an error, not ignored."""
        values = known_fields(cls, values, "tuning settings")
        return cls(**{**values, **({"optimizers": tuple(values["optimizers"])} if "optimizers" in values else {})})


@dataclass(frozen=True)
class TrainingConfig:
    """What the Trainer does. Travels whole (as_dict) in the Trainer's custom_config and is rebuilt as this class
    in run_fn (from_dict), so the pipeline and the Trainer read the same typed settings.

    Batches: batch_size is per replica; one step consumes batch_size x replicas examples (the global batch), and
    an epoch is one pass over the training examples in global batches. Steps are not fixed when compiling: run_fn
    counts them from the examples' dataset.json (or num_train/num_eval where given) and the replica count.
    """

    epochs: int
    train_steps: Optional[int] = None  # exactly this many optimizer steps in all (--train-steps); None: epochs passes
    eval_steps: Optional[int] = None  # None: one pass over the evaluation examples
    batch_size: int = 64  # per replica
    learning_rate: float = 1e-3
    strategy: str = "auto"
    precision: str = "float32"  # Keras policy (models.strategy.PRECISIONS); "auto": mixed on GPU/TPU, opt-in
    cache_input: bool = True  # parse and transform the examples once, later epochs from memory (docs/benchmarks.md)
    # Off (default): Transform writes only its graph and the Trainer applies it to the raw examples as it reads
    # them, once with cache_input. On: Transform also writes a transformed copy the Trainer reads, worth it only
    # when the preprocessing_fn is expensive (docs/benchmarks.md).
    materialize_transform: bool = False
    seed: int = 42
    model: Mapping = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    dropout: Optional[float] = None  # every Dropout layer's rate; None: the model's own (steps with dropout only)
    # The examples' dataset.json: the model's data facts (image shape, classes, text vocabulary) and the example
    # counts, read at training time, so compiling needs no data. None: the one DatasetExampleGen wrote inside the
    # Examples artifact; a path: the file beside TFRecords brought with --examples-dir.
    data_metadata: Optional[str] = None
    num_train: Optional[int] = None  # count steps from this many examples instead of dataset.json's counts
    num_eval: Optional[int] = None
    tuning: Optional[TuningConfig] = None  # a Tuner searches before the Trainer (--tune); None: no search

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            positive_int(getattr(self, name), name)
        for name in ("train_steps", "eval_steps", "num_train", "num_eval"):
            if getattr(self, name) is not None:
                positive_int(getattr(self, name), name)
        real_number(self.learning_rate, "learning rate", above=0)
        if self.dropout is not None:
            real_number(self.dropout, "dropout", at_least=0, below=1)

    def plan(self, replicas: int, counts: Mapping[str, int]) -> StepPlan:
        """The steps for `replicas` replicas and `counts` examples per split ({"train": N, "eval": M}, from
        dataset.json; num_train/num_eval win). With train_steps, exactly that many steps in epochs of
        ceil(train_steps / epochs) steps, the last one cut short (so fewer epochs when train_steps < epochs)."""
        global_batch = self.batch_size * replicas
        eval_steps = self.eval_steps or self._one_pass("eval", self.num_eval, counts, global_batch)
        if self.train_steps is None:
            per_epoch = self._one_pass("train", self.num_train, counts, global_batch)
            return StepPlan(self.epochs, per_epoch, self.epochs * per_epoch, eval_steps, global_batch)
        per_epoch = math.ceil(self.train_steps / min(self.epochs, self.train_steps))
        return StepPlan(math.ceil(self.train_steps / per_epoch), per_epoch, self.train_steps, eval_steps, global_batch)

    @staticmethod
    def _one_pass(split: str, given: Optional[int], counts: Mapping[str, int], global_batch: int) -> int:
        count = given or counts.get(split)
        if not count:
            raise ConfigError(f"no {split} example count: the examples' dataset.json has none and none was given")
        return math.ceil(count / global_batch)

    def as_dict(self) -> dict:
        """Every setting, JSON-ready: the Trainer's custom_config (TFX stores it as JSON in ML Metadata)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, "model": dict(self.model), "optimizer": self.optimizer.to_dict(),
                "tuning": self.tuning.as_dict() if self.tuning else None}

    custom_config = as_dict  # what create_pipeline hands the Trainer

    @classmethod
    def from_dict(cls, values: Mapping) -> "TrainingConfig":
        """Back from custom_config in run_fn; a key this version does not know is an error, not ignored."""
        values = known_fields(cls, values, "training settings")
        tuning = values.get("tuning")
        return cls(**{**values, "optimizer": OptimizerConfig.from_dict(values.get("optimizer") or {}),
                      "tuning": TuningConfig.from_dict(tuning) if tuning is not None else None})


@dataclass(frozen=True)
class GateConfig:
    """TFMA thresholds that bless a model: an absolute bound and the allowed regression vs the baseline."""

    metric: str = "SparseCategoricalAccuracy"  # a TFMA metric class name, one of PipelineConfig.metrics
    higher_is_better: bool = True
    min_value: Optional[float] = 0.5  # lower bound if higher is better, else upper bound
    max_regression: float = 0.01  # how much worse than the last blessed model is still blessed
    # The fewest eval examples a verdict may rest on (TFMA's example_count must reach it): 2 examples once blessed a
    # one-class model with accuracy 1.0.
    min_examples: int = 50


@dataclass(frozen=True)
class InfraValidationConfig:
    """TFX's InfraValidator before the Pusher: the model is loaded in a TF Serving container started through a
    Docker-compatible engine's API and sent eval examples on the step's eval signature; the Pusher pushes only a
    model that both the Evaluator and the InfraValidator bless (docs/serving.md, "Infra validation")."""

    docker_url: str  # the engine's API, e.g. unix:///var/run/docker.sock
    image: str = SERVING_IMAGE  # NAME:TAG of an image that starts as TF Serving's does (MODEL_NAME, MODEL_BASE_PATH)
    num_examples: int = 10  # eval examples sent as Predict requests once the model is AVAILABLE
    max_loading_seconds: int = 300  # per try: the container running and the model AVAILABLE within it
    num_tries: int = 1  # a failed try is retried; a model that fails every try is not blessed

    def __post_init__(self):
        name, _, tag = self.image.rpartition(":")
        if not name or "/" in tag:
            raise ConfigError(f"serving image {self.image!r} needs a tag (NAME:TAG)")
        for setting in ("num_examples", "max_loading_seconds", "num_tries"):
            positive_int(getattr(self, setting), setting)


@dataclass(frozen=True)
class DriftConfig:
    """How far a new span's statistics may move from the previous span's before the run stops, per feature
    (components/drift.py): the L-infinity distance of a categorical feature's value frequencies (the label) and the
    Jensen-Shannon divergence of a numeric feature's histogram (the pixels)."""

    categorical: Mapping[str, float] = field(default_factory=lambda: {"label": 0.1})
    numeric: Mapping[str, float] = field(default_factory=lambda: {"pixels": 0.1})

    def __post_init__(self):
        for kind in ("categorical", "numeric"):
            for feature, threshold in getattr(self, kind).items():
                real_number(threshold, f"{kind} drift threshold of {feature}", at_least=0)

    def as_dict(self) -> dict:
        """The DriftValidator's thresholds parameter."""
        return {"categorical": dict(self.categorical), "numeric": dict(self.numeric)}


def span_window(value) -> Optional[int]:
    """None: the dataset's files lie directly in the data directory (span 0); N: they lie in span-<n>/ folders
    (data.spans) and a run reads the latest N spans."""
    return None if value is None else positive_int(value, "span window")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything create_pipeline needs; pure data, no I/O."""

    step: str
    pipeline_name: str
    pipeline_root: str
    metadata_path: Optional[str]  # SQLite ML Metadata for local runs; None where the orchestrator provides it
    # ExampleGen's input_base: the raw dataset files DatasetExampleGen reads (raw_data set), or TFRecords
    # <dir>/train/*.tfrecord.gz and <dir>/eval/*.tfrecord.gz for ImportExampleGen (raw_data None)
    examples_dir: str
    serving_model_dir: str  # TF Serving base path: versions land in <serving_model_dir>/<version>/
    preprocessing_fn: Optional[str] = None  # dotted path; trained steps only
    run_fn: Optional[str] = None  # dotted path; trained steps only
    tuner_fn: Optional[str] = None  # dotted path; trained steps whose training has tuning
    training: Optional[TrainingConfig] = None  # trained steps only
    # A generative step that trains nothing (DeepDream): its component's parameters; then the pipeline's tail is
    # the DeepDream component on the ExampleGen's photos, with no Transform, Trainer, Evaluator or Pusher.
    dream: Optional[Mapping] = None
    gate: GateConfig = field(default_factory=GateConfig)
    eval_signature: str = "serving_default"
    label_key: str = "label"
    prediction_key: str = "probabilities"
    metrics: tuple = CLASSIFIER_METRICS
    slice_features: tuple = ("label",)
    beam_pipeline_args: tuple = DEFAULT_BEAM_ARGS
    # The data half (ExampleGen .. Transform) may come from TFX's cache: its inputs' fingerprints, settings and
    # source_fingerprint unchanged. The Trainer and what follows always run.
    enable_cache: bool = False
    source_fingerprint: str = ""  # environment.source_fingerprint(): the code the cached data half came from
    raw_data: Optional[Mapping] = None  # DatasetExampleGen's settings (components.examplegen.settings)
    infra_validation: Optional[InfraValidationConfig] = None  # None: the Evaluator's blessing alone gates the push
    span_window: Optional[int] = None  # see span_window(); DatasetExampleGen only
    drift: DriftConfig = field(default_factory=DriftConfig)  # thresholds against the previous span

    def __post_init__(self):
        span_window(self.span_window)
        if self.span_window is not None and self.raw_data is None:
            raise ConfigError("spans need the raw dataset files (--data-dir with span-<n>/ folders), not --examples-dir")
        if self.dream is not None and self.training is not None:
            raise ConfigError(f"{self.step}: a step either trains (training) or dreams (dream), not both")
        if self.trains and None in (self.preprocessing_fn, self.run_fn, self.training):
            raise ConfigError(f"{self.step}: a trained step needs preprocessing_fn, run_fn and training")
        if self.training is not None and self.training.tuning is not None and not self.tuner_fn:
            raise ConfigError(f"{self.step}: tuning needs the step's tuner_fn")
        if self.gate.metric not in self.metrics:
            raise ConfigError(f"gate metric {self.gate.metric} is not among the evaluated metrics {self.metrics}")

    @property
    def trains(self) -> bool:
        """Which tail the pipeline has: Trainer -> Evaluator -> Pusher, or the DeepDream component."""
        return self.dream is None

    def replace(self, **changes) -> "PipelineConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class OutputLayout:
    """Where one local study keeps its store, artifacts, data and pushed models."""

    root: str

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, "metadata.sqlite")

    def pipeline_root(self, pipeline_name: str) -> str:
        return os.path.join(self.root, "pipelines", pipeline_name)

    def serving_model_dir(self, model_name: str) -> str:
        return os.path.join(self.root, "serving", model_name)
