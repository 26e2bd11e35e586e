"""A digits classifier for evaluating models trained on the bundled digits.

ImageNet's Inception network says little about 8×8 digits, so digits models are scored with a
small CNN trained on the bundled data: its penultimate features serve FID/KID/precision-recall
("Fréchet classifier distance") and its predictions give the class consistency of a
conditional generator: the fraction of samples classified as the class they were conditioned
on (the "Inception accuracy" of Odena et al. 2017, arXiv 1610.09585, with this classifier in
place of Inception).
"""

import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfbiggan import files
from tfbiggan.data import digits as digits_data

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "tfbiggan")
_WORKING_RESOLUTION = 16
SPLIT_SEED = 0


def digits_split(resolution, held_out_fraction=0.2, seed=SPLIT_SEED):
    """The fixed train / held-out split of the bundled digits, grey images in [-1, 1].

    The default seed gives the split every classifier is trained and assessed on.

    Returns:
      (train_images [N, R, R, 1], train_labels, held_out_images, held_out_labels).
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(
            f"`held_out_fraction` must be in (0, 1), got {held_out_fraction!r}.")
    images, labels = digits_data.load_digits_images(resolution, channels=1)
    order = np.random.default_rng(seed).permutation(images.shape[0])
    held_out = int(round(images.shape[0] * held_out_fraction))
    test, train = order[:held_out], order[held_out:]
    return images[train], labels[train], images[test], labels[test]


def build_digits_model(resolution, seed=0):
    """CNN [B, R, R, 1] → (features [B, 128], logits [B, 10]) built from stock Keras layers.

    Inputs are resized to 16×16 first (the digits carry 8×8 pixels of information), so the
    cost does not grow with the resolution.
    """
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731
    inputs = keras.Input((resolution, resolution, 1), name="images")
    x = inputs
    if resolution != _WORKING_RESOLUTION:
        x = keras.layers.Resizing(_WORKING_RESOLUTION, _WORKING_RESOLUTION,
                                  interpolation="bilinear", antialias=True, name="resize")(x)
    x = keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", fill_value=-1.0,
                                       seed=seed, name="augment")(x)
    for i, filters in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                kernel_initializer=init(i), name=f"conv{i}")(x)
        # A short schedule needs fast-moving statistics for inference.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    features = keras.layers.Dense(128, activation="relu", kernel_initializer=init(3),
                                  name="features")(x)
    logits = keras.layers.Dense(digits_data.NUM_CLASSES, kernel_initializer=init(4),
                                name="logits")(features)
    return keras.Model(inputs, [features, logits], name=f"digits_classifier_{resolution}")


class DigitsClassifier:
    """Callable images → (features [B, 128], logits [B, 10]) for the digits.

    Args:
      model: the two-output Keras model from `build_digits_model`.

    Example:
      >>> classifier = load_digits_classifier(32)
      >>> features, logits = classifier(images)   # images [B, 32, 32, 1 or 3] in [-1, 1]
    """

    def __init__(self, model):
        if not isinstance(model, keras.Model) or len(model.outputs) != 2:
            raise ValueError(
                f"`model` must be a Keras model with outputs (features, logits), got {model!r}.")
        self.model = model
        self.resolution = int(model.inputs[0].shape[1])
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        if (images.shape.rank != 4 or images.shape[-1] not in (1, 3)
                or tuple(images.shape[1:3]) != (self.resolution, self.resolution)):
            raise ValueError(
                f"`images` must have shape [B, {self.resolution}, {self.resolution}, 1 or 3], "
                f"got {images.shape}.")
        grey = tf.reduce_mean(images, axis=-1, keepdims=True)  # RGB digits are grey repeated.
        features, logits = self._forward(grey)
        return features, logits


def train_digits_model(resolution, epochs=15, batch_size=64, seed=0):
    """Trains the CNN on the fixed training split; returns (model, held-out accuracy).

    `seed` sets the initialisation, augmentation and shuffling, not the split.
    """
    x_train, y_train, x_test, y_test = digits_split(resolution)
    model = build_digits_model(resolution, seed=seed)
    trainer = keras.Model(model.inputs, model.outputs[1])
    steps = epochs * -(-x_train.shape[0] // batch_size)
    trainer.compile(optimizer=keras.optimizers.Adam(
                        keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
               .shuffle(x_train.shape[0], seed=seed).batch(batch_size))
    start = time.time()
    trainer.fit(dataset, epochs=epochs, verbose=0, shuffle=False)  # Shuffled above.
    _, logits = model.predict(x_test, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    logging.info("Trained the %d×%d digits classifier in %.1f s: held-out accuracy %.4f.",
                 resolution, resolution, time.time() - start, accuracy)
    return model, accuracy


def classifier_path(resolution, cache_dir=None):
    """Cache file of the classifier for `resolution`."""
    cache_dir = os.path.expanduser(os.fspath(cache_dir or DEFAULT_CACHE_DIR))
    return os.path.join(cache_dir, f"digits_classifier_{resolution}px.keras")


def load_digits_classifier(resolution=32, cache_dir=None, epochs=15, seed=0):
    """The digits classifier for `resolution`, trained on first use and cached as `.keras`.

    Args:
      resolution: image side (≥ 8) the classifier accepts.
      cache_dir: directory of the cached model (default `~/.cache/tfbiggan`).
      epochs, seed: training settings used when no cached model exists.

    Returns:
      A `DigitsClassifier` (images [B, R, R, 1 or 3] in [-1, 1] → (features, logits)).

    Example:
      >>> classifier = load_digits_classifier(32, cache_dir="/tmp/tfbiggan")
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"`resolution` must be an integer >= 8, got {resolution!r}.")
    path = classifier_path(resolution, cache_dir)
    if os.path.isfile(path):
        logging.info("Loading the digits classifier from %s.", path)
        return DigitsClassifier(keras.saving.load_model(path))
    model, _ = train_digits_model(resolution, epochs=epochs, seed=seed)
    with files.atomic_path(path, suffix=".keras") as temporary:  # Never seen half-written.
        model.save(temporary)
    logging.info("Saved the digits classifier to %s.", path)
    return DigitsClassifier(model)


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
    predictions = []
    for start in range(0, labels.shape[0], batch_size):
        _, logits = classifier(images[start:start + batch_size])
        predictions.append(np.argmax(np.asarray(logits), axis=1))
    return float(np.mean(np.concatenate(predictions) == labels))
