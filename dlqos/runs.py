"""One study step, run locally end to end: raw data files -> config -> pipeline -> results from ML Metadata."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import json
import logging
import os
import pathlib
import sqlite3
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

from data.tfrecords import METADATA_FILE
from common.config import (DEFAULT_BEAM_ARGS, InfraValidationConfig, OptimizerConfig, OutputLayout, PipelineConfig,
                           TrainingConfig, TuningConfig, default_learning_rate, positive_int, real_number, span_window)
from common import environment
from common.errors import ConfigError
from models.steps import STEPS, Step, get_step
from data import get_dataset
from dlqos import metadata
from dlqos.evaluation import OVERALL, failed_thresholds, gate_thresholds, shown_metric, slice_metrics, validation
from pipeline.beam import shared_services

log = logging.getLogger("dlqos")
LOCK_FILE = ".dlqos.lock"  # in the output directory: holds the running process's pid


@dataclass(frozen=True)
class RunOptions:
    """What a user may change for one run, on top of the step's profile."""

    profile: str = "quick"
    output_dir: str = "runs/local"
    data_dir: Optional[str] = None
    examples_dir: Optional[str] = None  # TFRecords (train/, eval/, dataset.json) for ImportExampleGen, not raw data
    dataset: Optional[str] = None  # instead of the step's default dataset (e.g. tf_flowers, image_folder)
    strict: bool = False  # a corrupt photo is an error instead of skipped and counted (folders of photos)
    strategy: str = "auto"
    precision: str = "float32"
    cache_input: bool = True
    materialize_transform: bool = False
    epochs: Optional[int] = None
    train_steps: Optional[int] = None
    batch_size: Optional[int] = None
    max_train: Optional[int] = None  # override the profile's data sizes
    max_eval: Optional[int] = None
    dream: Mapping = field(default_factory=dict)  # DeepDream parameter overrides (backbone, weights, layers)
    model: Mapping = field(default_factory=dict)  # model hyper-parameter overrides (custom_config['model'])
    # How the Trainer optimizes (TrainingConfig.optimizer): None / "constant" / "adam" keep the study's default.
    optimizer: str = "adam"
    learning_rate: Optional[float] = None  # None: config.default_learning_rate(optimizer, the profile's rate)
    lr_schedule: str = "constant"
    weight_decay: Optional[float] = None
    dropout: Optional[float] = None  # only steps that take it (Step.takes_dropout)
    clip_norm: Optional[float] = None
    beam_pipeline_args: Sequence[str] = DEFAULT_BEAM_ARGS
    cache: bool = True  # the data half may come from TFX's cache (PipelineConfig.enable_cache); --no-cache
    infra_validation: Optional[InfraValidationConfig] = None  # --infra-validate, --serving-image
    tuning: Optional[TuningConfig] = None  # --tune: a Tuner searches before each trained step's Trainer
    span_window: Optional[int] = None  # --span-window: how many of the latest span-<n>/ folders a run reads

    def __post_init__(self):
        span_window(self.span_window)
        for name in COUNTS:
            if getattr(self, name) is not None:
                positive_int(getattr(self, name), name)
        self.optimizer_config()  # an unknown name or a bad value is refused here, before any work
        if self.learning_rate is not None:
            real_number(self.learning_rate, "learning rate", above=0)
        if self.dropout is not None:
            real_number(self.dropout, "dropout", at_least=0, below=1)

    def optimizer_config(self) -> OptimizerConfig:
        return OptimizerConfig(name=self.optimizer, schedule=self.lr_schedule, weight_decay=self.weight_decay,
                               clip_norm=self.clip_norm)

    def training_flags(self) -> list:
        """The flags given (not at their defaults) that only a trained step takes, as the CLI spells them."""
        given = {"--optimizer": self.optimizer != "adam", "--learning-rate": self.learning_rate is not None,
                 "--lr-schedule": self.lr_schedule != "constant", "--weight-decay": self.weight_decay is not None,
                 "--dropout": self.dropout is not None, "--clip-norm": self.clip_norm is not None,
                 "--infra-validate": self.infra_validation is not None,
                 "--tune": self.tuning is not None}
        return [flag for flag, set_ in given.items() if set_]

    def count(self, name: str, profile):
        """The option's value, or the profile's where it is not given (None)."""
        return getattr(profile, name) if getattr(self, name) is None else getattr(self, name)


COUNTS = ("epochs", "train_steps", "batch_size", "max_train", "max_eval")


def check_training_options(steps: Sequence[Step], options: RunOptions) -> None:
    """A training flag a selected step would ignore is refused before any work, naming the flag and the fix:
    deepdream trains nothing, and --dropout needs a model with Dropout layers."""
    ignoring = {flag: [step.name for step in steps if not step.trains] for flag in options.training_flags()}
    if options.dropout is not None:
        ignoring["--dropout"] = [step.name for step in steps if not step.takes_dropout]
    for flag, names in ignoring.items():
        if names:
            why = "no Dropout layer in its model" if flag == "--dropout" else "trains nothing"
            takers = [name for name, step in STEPS.items()
                      if step.trains and (flag != "--dropout" or step.takes_dropout)]
            raise ConfigError(f"{flag} does not apply to {', '.join(names)} ({why}); the steps that take it: "
                              f"{', '.join(takers)}")


@dataclass
class StepRun:
    """A step's run read back from ML Metadata and the artifacts it wrote: what `dlqos run` prints and what the
    report renders."""

    step: Step
    run_id: str
    blessed: Optional[bool]
    pushed_to: Optional[str]
    baseline_model: Optional[str]
    model_dir: Optional[str]  # the Trainer's model artifact
    training: Optional[dict]  # the step's record: training.json beside the model, or DeepDream's dreams.json
    dreams_dir: Optional[str] = None  # DeepDream's output artifact (steps that train nothing)
    evaluation_dir: Optional[str] = None
    slices: Dict[str, Dict[str, float]] = field(default_factory=dict)
    validation: Optional[dict] = None
    thresholds: List[dict] = field(default_factory=list)
    component_seconds: Dict[str, float] = field(default_factory=dict)
    images: List[str] = field(default_factory=list)  # PNG artifacts the step wrote beside its record
    status: str = "finished"  # PipelineRun.status: finished, failed at NODE, interrupted
    served: Optional[str] = None  # the run whose model is served now and where, when not this one ("none")
    settings: dict = field(default_factory=dict)  # the Trainer's custom_config (model, optimizer, epochs, seed)
    dataset: Optional[str] = None  # the dataset the ExampleGen read (None: ImportExampleGen on the user's TFRecords)
    examples_dir: Optional[str] = None  # the ExampleGen's Examples artifact (dataset.json inside)
    statistics_dir: Optional[str] = None  # StatisticsGen's statistics artifact (Split-*/FeatureStats.pb)
    tuning: Optional[dict] = None  # the Tuner's trials, best values and time (read_tuning), where a Tuner ran

    @property
    def overall(self) -> Dict[str, float]:
        return self.slices.get(OVERALL, {})

    @property
    def training_record(self) -> Optional[str]:
        from models.training import TRAINING_RECORD

        return os.path.join(self.model_dir, TRAINING_RECORD) if self.model_dir else None


def raw_files(name: str, options: RunOptions):
    """The dataset's raw files from its first available source (fetched, checksummed, cached: nothing converted);
    --strict only where there is something to skip (Dataset.skips_corrupt)."""
    dataset = get_dataset(name)
    dataset.check_strict(options.strict)
    return dataset.raw(options.data_dir)


def prepare_examples(step: Step, options: RunOptions, layout: OutputLayout) -> tuple:
    """(ExampleGen's input_base, {"raw_data": DatasetExampleGen's settings}): the raw files of the step's dataset,
    which the pipeline's ExampleGen reads and fingerprints on every run; or, with --examples-dir, the user's
    TFRecords for ImportExampleGen and {}."""
    from components.examplegen import settings

    if options.examples_dir:
        if options.span_window:
            raise ConfigError("--span-window reads span-<n>/ folders of raw files (--data-dir), not --examples-dir")
        return os.path.abspath(options.examples_dir), {}
    profile = step.profile(options.profile)
    dataset = options.dataset or step.dataset
    raw, window = spanned_raw_files(dataset, options)
    log.info("%s: raw files in %s (%s)", dataset, raw.base, raw.source)
    return raw.base, {"raw_data": settings(dataset, raw, options.count("max_train", profile),
                                           options.count("max_eval", profile), step.max_classes, options.strict),
                      "span_window": window}


def spanned_raw_files(dataset: str, options: RunOptions) -> tuple:
    """(raw files, span window): a --data-dir with span-<n>/ folders is read by spans, the latest one checked
    here as any data directory is (window: --span-window, else 1); other sources are one dataset (None)."""
    from data import spans
    from data.sources import RawFiles

    found = spans.spans_in(options.data_dir) if options.data_dir else []
    if options.span_window and not found:
        raise ConfigError(f"--span-window reads span-<n>/ folders of --data-dir: {options.data_dir or 'none given'} "
                          f"has none (each drop of data goes in DIR/span-1, span-2, ...: `dlqos data fetch NAME "
                          "--to ROOT --span N` puts one in ROOT/NAME/span-N)")
    if not found:
        return raw_files(dataset, options), None
    latest = raw_files(dataset, dataclasses.replace(options, data_dir=os.path.join(options.data_dir,
                                                                                    spans.folder(found[-1]))))
    base = os.path.abspath(options.data_dir)
    return RawFiles(base, latest.patterns, f"directory {base}", latest.options), options.span_window or 1


def build_config(step: Step, options: RunOptions, layout: OutputLayout, examples_dir: str,
                 data_metadata: Optional[Mapping] = None) -> PipelineConfig:
    """The step's pipeline config: its profile under these options. data_metadata: prepare_examples' second value
    (raw_data: the DatasetExampleGen's settings; without it, ImportExampleGen reads TFRecords in examples_dir), and
    counts, where given (compile --num-train/--num-eval), the example counts the Trainer uses instead of those in
    the examples' dataset.json, which it reads at run time."""
    profile = step.profile(options.profile)
    raw_data = (data_metadata or {}).get("raw_data")
    if raw_data and options.materialize_transform:
        raise ConfigError("--materialize-transform needs --examples-dir: the Trainer would read Transform's examples, "
                          "which carry no dataset.json (the ExampleGen writes it inside its own artifact)")
    common = dict(step=step.name, pipeline_name=step.pipeline_name, drift=step.drift,
                  span_window=(data_metadata or {}).get("span_window"),
                  pipeline_root=layout.pipeline_root(step.pipeline_name),
                  metadata_path=layout.metadata_path, examples_dir=examples_dir, raw_data=raw_data,
                  serving_model_dir=layout.serving_model_dir(step.name),
                  beam_pipeline_args=tuple(options.beam_pipeline_args), enable_cache=options.cache,
                  source_fingerprint=environment.source_fingerprint())
    facts = None if raw_data else os.path.join(examples_dir, METADATA_FILE)  # None: inside the Examples artifact
    model = {**profile.model, **step.own_params(options.model)}
    check_training_options([step], options)
    if not step.trains:
        return PipelineConfig(**common, dream={**step.dream, **step.model.from_dict(model).as_dict(), **options.dream,
                                               "data_metadata": facts or ""})
    counts = (data_metadata or {}).get("counts", {})
    training = TrainingConfig(
        epochs=options.count("epochs", profile), train_steps=options.train_steps,
        batch_size=options.count("batch_size", profile), num_train=counts.get("train"), num_eval=counts.get("eval"),
        learning_rate=options.learning_rate or default_learning_rate(options.optimizer, profile.learning_rate),
        strategy=options.strategy, precision=options.precision,
        cache_input=options.cache_input, materialize_transform=options.materialize_transform,
        model=model, optimizer=options.optimizer_config(), dropout=options.dropout,
        data_metadata=facts, tuning=options.tuning)
    gate = step.gate if profile.min_value is None else dataclasses.replace(step.gate, min_value=profile.min_value)
    return PipelineConfig(
        **common,
        preprocessing_fn=step.preprocessing_fn,
        run_fn=step.run_fn,
        tuner_fn=step.tuner_fn if options.tuning else None,
        training=training,
        gate=gate,
        eval_signature=step.eval_signature,
        label_key=step.label_key,
        prediction_key=step.prediction_key,
        metrics=tuple(step.metrics),
        slice_features=tuple(step.slice_features),
        infra_validation=options.infra_validation,
    )


def run_step(step_name: str, options: RunOptions) -> StepRun:
    from pipeline import local_runner

    step = get_step(step_name)
    layout = OutputLayout(os.path.abspath(options.output_dir))
    examples_dir, data = prepare_examples(step, options, layout)
    config = build_config(step, options, layout, examples_dir, data)
    if config.training:
        train_steps = config.training.train_steps
        log.info("%s: running pipeline %s (%s profile, %d epochs, %s, batch %d per replica, strategy %s)",
                 step.name, config.pipeline_name, options.profile, config.training.epochs,
                 f"{train_steps} train steps" if train_steps else "one pass per epoch", config.training.batch_size,
                 config.training.strategy)
    else:
        log.info("%s: running pipeline %s (%s profile, %s)", step.name, config.pipeline_name, options.profile,
                 ", ".join(f"{k}={v}" for k, v in config.dream.items() if k != "data_metadata"))
    local_runner.run(config)
    return step_result(layout.metadata_path, step)


def check_store(path: str, need_runs: bool = False) -> None:
    """ML Metadata reports a store that is not SQLite (garbage, a truncated copy) as a page of raw SQL: name the
    file and the fix before any work. With `need_runs` (a report), an empty store is an error too."""
    if not os.path.isfile(path):
        return
    try:
        uri = f"{pathlib.Path(os.path.abspath(path)).as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as store:
            tables = store.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as why:
        raise ConfigError(f"{path} is not an ML Metadata store ({why}): move it away to start a new store, or "
                          "choose another --output-dir") from None
    if need_runs and not tables:
        raise ConfigError(f"{path} records no runs (it is empty): run `dlqos run` or `dlqos study` first")


@contextlib.contextmanager
def output_lock(output_dir: str):
    """One run at a time per output directory: a second one would train in full and then fail at the Pusher
    ("version already exists"). flock is the kernel's, so a killed run never leaves the lock behind."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, LOCK_FILE), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise ConfigError(f"{output_dir} is in use by another dlqos run (pid {lock.read().strip() or '?'}): "
                              "wait for it to finish or choose another --output-dir") from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


@contextlib.contextmanager
def shared_beam_services(options: RunOptions):
    """The options for every pipeline of one `run`, `study` or `compare`, whose Beam arguments reach what those
    pipelines share (for Flink one job server and one SDK worker pool: pipeline.beam.shared_services), up until the
    block ends, however it ends."""
    with shared_services(options.beam_pipeline_args) as beam_args:
        yield dataclasses.replace(options, beam_pipeline_args=beam_args)


def read_step_run(run, step: Step, served: Optional[str] = None) -> StepRun:
    """The step's run (a metadata.PipelineRun) with what its artifacts hold: the record, TFMA's slices and gate,
    the figures. served: the report's note on the run served now."""
    from components.dream_generator import DREAMS_FILE
    from models.training import TRAINING_RECORD

    trainer = run.nodes.get("Trainer")
    evaluator = run.nodes.get("Evaluator")
    examples = run.example_gen.output("examples") if run.example_gen else None
    statistics = run.nodes["StatisticsGen"].output("statistics") if "StatisticsGen" in run.nodes else None
    model = trainer.output("model") if trainer else None
    dreams = run.nodes["DeepDream"].output("dreams") if "DeepDream" in run.nodes else None
    evaluation = evaluator.output("evaluation") if evaluator else None
    # The Resolver is inlined into the Evaluator's inputs: the baseline is what the Evaluator read.
    baseline = (evaluator.inputs.get("baseline_model") or [None])[0] if evaluator else None
    written = dreams.uri if dreams else model.uri if model else None
    record = os.path.join(written, DREAMS_FILE if dreams else TRAINING_RECORD) if written else None
    return StepRun(
        step=step, run_id=run.run_id, blessed=run.blessed, pushed_to=run.pushed_to,
        baseline_model=baseline.uri if baseline else None, model_dir=model.uri if model else None,
        training=read_json(record) if record else None, dreams_dir=dreams.uri if dreams else None,
        evaluation_dir=evaluation.uri if evaluation else None,
        slices=slice_metrics(evaluation.uri) if evaluation else {},
        validation=validation(evaluation.uri) if evaluation else None,
        thresholds=gate_thresholds(evaluation.uri) if evaluation else [],
        component_seconds={node: execution.seconds for node, execution in run.nodes.items()},
        images=sorted(glob.glob(os.path.join(written, "*.png"))) if written else [],
        status=run.status, served=served,
        settings=json.loads(trainer.properties.get("custom_config") or "{}") if trainer else {},
        dataset=metadata.example_gen_dataset(run), examples_dir=examples.uri if examples else None,
        statistics_dir=statistics.uri if statistics else None,
        tuning=read_tuning(run.nodes["Tuner"]) if "Tuner" in run.nodes else None)


TUNER_RESULTS = "tuner_results.json"  # what TFX's Tuner writes
BEST_HYPERPARAMETERS = "best_hyperparameters.txt"


def read_tuning(tuner) -> dict:
    """The Tuner's execution from ML Metadata: its trials (trial_id, score, the values; completed ones, best
    first), the best values its best_hyperparameters artifact holds (what the Trainer received), its wall
    seconds and its budget (TuningConfig in its custom_config)."""
    results = tuner.output("tuner_results")
    best = tuner.output("best_hyperparameters")
    settings = json.loads(tuner.properties.get("custom_config") or "{}").get("tuning") or {}
    return {"trials": (read_json(os.path.join(results.uri, TUNER_RESULTS)) or []) if results else [],
            "best": ((read_json(os.path.join(best.uri, BEST_HYPERPARAMETERS)) or {}).get("values") if best else None),
            "seconds": tuner.seconds, "state": tuner.state, "budget": settings}


def read_json(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def step_result(metadata_path: str, step: Step) -> StepRun:
    run = metadata.latest_run(metadata.open_store(metadata_path), step.pipeline_name)
    if run is None:
        raise RuntimeError(f"no run of {step.pipeline_name} recorded in {metadata_path}")
    return read_step_run(run, step)


def result_summary(result: StepRun) -> str:
    """What `dlqos run` prints: the verdict, the metrics, each threshold a model failed, where things are."""
    lines = [f"{result.step.name}: run {result.run_id}: "
             + ("BLESSED and pushed" if result.pushed_to else "NOT blessed, nothing pushed" if result.blessed is False
                else "finished")]
    if result.overall:
        lines.append("  metrics:   " + ", ".join(f"{k}={shown_metric(k, v)}" for k, v in sorted(result.overall.items())))
    if result.blessed is False and result.validation:
        lines += [f"  failed:    {failure}" for failure in failed_thresholds(result.validation, result.slices)]
    if result.evaluation_dir:
        lines.append(f"  evaluation (TFMA): {result.evaluation_dir}")
    if result.training_record:
        lines.append(f"  history:   {result.training_record}")
    if result.dreams_dir:
        lines.append(f"  dreams:    {result.dreams_dir}")
        return "\n".join(lines)
    lines.append(f"  baseline:  {result.baseline_model or 'none (first blessed model)'}")
    if result.pushed_to:
        lines.append(f"  pushed:    {result.pushed_to}")
    return "\n".join(lines)


def result_json(result: StepRun) -> str:
    return json.dumps({"step": result.step.name, "run_id": result.run_id, "blessed": result.blessed,
                       "pushed_to": result.pushed_to, "model_dir": result.model_dir,
                       "evaluation_dir": result.evaluation_dir, "metrics": result.overall,
                       "baseline_model": result.baseline_model, "dreams_dir": result.dreams_dir,
                       "training_record": result.training_record}, indent=2)
