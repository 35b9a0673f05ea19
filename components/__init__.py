"""Pipeline building blocks of our own: dataset sources (datasets/) and custom TFX components."""
