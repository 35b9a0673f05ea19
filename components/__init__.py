"""Custom TFX components (AtomicPusher, DeepDream); the dataset sources are the top-level `data` package."""
