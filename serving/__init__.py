"""TensorFlow Serving side: configuration for the pushed models and clients."""
