"""dlqos: the six-step deep-learning study as TFX pipelines.

TensorFlow Transform and TFMA speak Keras 2 (tf_keras); TensorFlow 2.21 defaults to Keras 3. The switch
must be set before TensorFlow is first imported, so it lives here, in the package every entry point imports.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
