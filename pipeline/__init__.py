"""The TFX pipeline definition (pipeline.py) and one runner per file (local_runner.py)."""
