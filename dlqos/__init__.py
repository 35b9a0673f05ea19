"""dlqos: the six-step deep-learning study as TFX pipelines. This package is the application on top: the CLI,
the study, compare, the report and model cards, and what they read from ML Metadata."""
import common  # noqa: F401  (legacy Keras before TensorFlow loads)

__version__ = "0.1.0"
