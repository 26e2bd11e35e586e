"""Small classifiers trained in the project as the feature networks of grey data sets.

ImageNet's Inception network says little about 8×8 digits or 28×28 Fashion-MNIST clothes, so
models trained on them are scored in the feature space of a small CNN trained on the real
training split: its penultimate features serve FID, KID, precision/recall, density/coverage and
within-class variety ("Fréchet classifier distance"), and its predictions give the class
consistency of a conditional generator: the fraction of samples classified as the class they
were conditioned on (the "Inception accuracy" of Odena et al. 2017, arXiv 1610.09585, with this
classifier in place of Inception). Each classifier is trained on first use and cached as a
`.keras` file with its held-out accuracy beside it (`.json`).
"""

import dataclasses
import json
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfbiggan import files

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "tfbiggan")


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """How the classifier of one data set is built and trained.

    Attributes:
      name: the data set's name (cache file names: `{name}_classifier_{R}px.keras`).
      num_classes: classes of the data set.
      splits: callable resolution → (train images, train labels, test images, test labels),
        grey images [N, R, R, 1] in [-1, 1].
      working_resolution: inputs are resized to this side first (None: kept).
      widths: channels of the three 3×3 convolution stages.
      shift: random-translation augmentation while training (fraction of the side; 0: none).
      epochs, batch_size, learning_rate: the training schedule (Adam, cosine decay).
      min_accuracy: the held-out accuracy the classifier must reach to be used.
    """
    name: str
    num_classes: int
    splits: object
    working_resolution: int = None
    widths: tuple = (32, 64, 128)
    shift: float = 0.0
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 2e-3
    min_accuracy: float = 0.0


def build_model(spec, resolution, seed=0):
    """CNN [B, R, R, 1] → (features [B, 128], logits [B, K]) built from stock Keras layers."""
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731
    inputs = keras.Input((resolution, resolution, 1), name="images")
    x = inputs
    working = spec.working_resolution
    if working and resolution != working:
        x = keras.layers.Resizing(working, working, interpolation="bilinear", antialias=True,
                                  name="resize")(x)
    if spec.shift:
        x = keras.layers.RandomTranslation(spec.shift, spec.shift, fill_mode="constant",
                                           fill_value=-1.0, seed=seed, name="augment")(x)
    for i, filters in enumerate(spec.widths):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                kernel_initializer=init(i), name=f"conv{i}")(x)
        # A short schedule needs fast-moving statistics for inference.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i < len(spec.widths) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    features = keras.layers.Dense(128, activation="relu", kernel_initializer=init(3),
                                  name="features")(x)
    logits = keras.layers.Dense(spec.num_classes, kernel_initializer=init(4),
                                name="logits")(features)
    return keras.Model(inputs, [features, logits], name=f"{spec.name}_classifier_{resolution}")


def train_model(spec, resolution, seed=0):
    """Trains the CNN on the training split; returns (model, held-out accuracy).

    `seed` sets the initialisation, augmentation and shuffling, not the split.
    """
    x_train, y_train, x_test, y_test = spec.splits(resolution)
    model = build_model(spec, resolution, seed=seed)
    trainer = keras.Model(model.inputs, model.outputs[1])
    steps = spec.epochs * -(-x_train.shape[0] // spec.batch_size)
    trainer.compile(optimizer=keras.optimizers.Adam(
                        keras.optimizers.schedules.CosineDecay(spec.learning_rate, steps)),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
               .shuffle(x_train.shape[0], seed=seed).batch(spec.batch_size))
    start = time.time()
    trainer.fit(dataset, epochs=spec.epochs, verbose=0, shuffle=False)  # Shuffled above.
    accuracy = held_out_accuracy(FeatureClassifier(model), x_test, y_test)
    logging.info("Trained the %d×%d %s classifier in %.1f s: held-out accuracy %.4f.",
                 resolution, resolution, spec.name, time.time() - start, accuracy)
    return model, accuracy


def held_out_accuracy(classifier, images, labels, batch_size=500):
    """Fraction of `images` the classifier assigns to `labels`."""
    predictions = [np.argmax(np.asarray(classifier(images[i:i + batch_size])[1]), axis=1)
                   for i in range(0, len(images), batch_size)]
    return float(np.mean(np.concatenate(predictions) == labels))


class FeatureClassifier:
    """Callable images → (features [B, 128], logits [B, K]) of a trained classifier.

    RGB inputs are reduced to grey by their channel mean (the data sets are grey; an RGB copy
    repeats the grey channel).

    Args:
      model: the two-output Keras model from `build_model`.
      name: the data set's name.
      accuracy: its held-out accuracy (None: unknown).

    Example:
      >>> classifier = load_classifier(FASHION_MNIST, 32)
      >>> features, logits = classifier(images)   # images [B, 32, 32, 1 or 3] in [-1, 1]
    """

    def __init__(self, model, name=None, accuracy=None):
        if not isinstance(model, keras.Model) or len(model.outputs) != 2:
            raise ValueError(
                f"`model` must be a Keras model with outputs (features, logits), got {model!r}.")
        self.model = model
        self.name = name
        self.accuracy = accuracy
        self.resolution = int(model.inputs[0].shape[1])
        self.num_classes = int(model.outputs[1].shape[-1])
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        if (images.shape.rank != 4 or images.shape[-1] not in (1, 3)
                or tuple(images.shape[1:3]) != (self.resolution, self.resolution)):
            raise ValueError(
                f"`images` must have shape [B, {self.resolution}, {self.resolution}, 1 or 3], "
                f"got {images.shape}.")
        grey = tf.reduce_mean(images, axis=-1, keepdims=True)
        features, logits = self._forward(grey)
        return features, logits


def classifier_path(spec, resolution, cache_dir=None):
    """Cache file of the classifier of `spec` at `resolution`."""
    cache_dir = os.path.expanduser(os.fspath(cache_dir or DEFAULT_CACHE_DIR))
    return os.path.join(cache_dir, f"{spec.name}_classifier_{resolution}px.keras")


def load_classifier(spec, resolution=32, cache_dir=None, seed=0, train_fn=None):
    """The classifier of `spec` for `resolution`, trained on first use and cached.

    Args:
      spec: a `ClassifierSpec`.
      resolution: image side (≥ 8) the classifier accepts.
      cache_dir: directory of the cached model (default `~/.cache/tfbiggan`).
      seed: training seed used when no cached model exists.
      train_fn: callable (spec, resolution, seed) → (model, accuracy) (default `train_model`).

    Returns:
      A `FeatureClassifier` whose `accuracy` is its held-out accuracy.

    Raises:
      ValueError: a bad resolution, or a trained classifier below `spec.min_accuracy`.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"`resolution` must be an integer >= 8, got {resolution!r}.")
    path = classifier_path(spec, resolution, cache_dir)
    info_path = path[:-len(".keras")] + ".json"
    if os.path.isfile(path):
        logging.info("Loading the %s classifier from %s.", spec.name, path)
        model = keras.saving.load_model(path)
        accuracy = None
        if os.path.isfile(info_path):
            with open(info_path, encoding="utf-8") as f:
                accuracy = json.load(f).get("held_out_accuracy")
        if accuracy is None:
            _, _, x_test, y_test = spec.splits(resolution)
            accuracy = held_out_accuracy(FeatureClassifier(model), x_test, y_test)
        return FeatureClassifier(model, spec.name, accuracy)
    model, accuracy = (train_fn or train_model)(spec, resolution, seed)
    if accuracy < spec.min_accuracy:
        raise ValueError(f"the {spec.name} classifier reached a held-out accuracy of "
                         f"{accuracy:.4f}, below the {spec.min_accuracy:.2f} it needs; it "
                         "was not cached.")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written under temporary names, then renamed: concurrent users never see a partial file.
    with files.atomic_write(info_path) as f:
        json.dump({"held_out_accuracy": accuracy, "resolution": resolution, "seed": seed}, f,
                  indent=1, sort_keys=True)
    with files.atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)
    logging.info("Saved the %s classifier to %s.", spec.name, path)
    return FeatureClassifier(model, spec.name, accuracy)


def class_consistency(classifier, images, labels, batch_size=256):
    """Fraction of images the classifier assigns to their conditioning class.

    Args:
      classifier: callable images → (features, logits).
      images: images [N, R, R, C] in [-1, 1].
      labels: the classes the images were generated for, [N] ints or [N, K] one-hot.
      batch_size: images per classifier call.

    Returns:
      Accuracy in [0, 1] as a Python float.

    Example:
      >>> class_consistency(load_digits_classifier(32), samples, sampled_classes)
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = np.argmax(labels, axis=1)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"`labels` must have shape [{images.shape[0]}] or [{images.shape[0]}, classes], "
            f"got {np.shape(labels)}.")
    return held_out_accuracy(classifier, images, labels, batch_size)
