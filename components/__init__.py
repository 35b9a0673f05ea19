"""Custom TFX components: the dataset ExampleGen, the atomic Pusher, DeepDream; and their artifact types."""
import common  # noqa: F401  (legacy Keras before TensorFlow loads)
from components.artifacts import DreamImages

__all__ = ["DreamImages"]
