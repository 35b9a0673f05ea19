"""The project's own TFX artifact types."""
from tfx.types.artifact import Artifact


class DreamImages(Artifact):
    """Dreamed images (PNG) at the checkpoint steps, with dreams.json describing them (components/dream_generator.py)."""

    # `namespace.Name` is the KFP v2 compiler's schema-title rule, and TFX's KFP entrypoint imports a custom type's
    # class by that title: `components.DreamImages` resolves through components/__init__.py.
    TYPE_NAME = "components.DreamImages"
