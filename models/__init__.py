"""The step library: one module per step (steps/) on the shared Trainer library (training, optimizers,
strategies, metrics, backbones). What a TFX Trainer or Transform loads by module path."""
import common  # noqa: F401  (legacy Keras before TensorFlow loads)
