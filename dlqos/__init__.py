"""dlqos: the six-step deep-learning study as TFX pipelines.

TensorFlow Transform and TFMA speak Keras 2 (tf_keras); TensorFlow 2.21 defaults to Keras 3. The switch
must be set before TensorFlow is first imported, so it lives here, in the package every entry point imports.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def __getattr__(name: str):
    """`dlqos.DreamImages`, the DeepDream artifact's KFP schema title, is also the class path TFX's Kubeflow
    entrypoint imports; loaded on first use so that importing dlqos stays free of TFX."""
    if name == "DreamImages":
        from components.deepdream import DreamImages

        return DreamImages
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
