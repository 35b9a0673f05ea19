"""What every layer needs: the error types (errors.py), the typed configuration tree (config.py), the run's
environment and source fingerprint (environment.py), and the Keras switch below.

TensorFlow Transform and TFMA speak Keras 2 (tf_keras); TensorFlow 2.21 defaults to Keras 3. The switch must be
set before TensorFlow is first imported, so it lives here, in the package every other package imports first.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
