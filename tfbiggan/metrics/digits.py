"""The digits classifier: the feature network of models trained on the bundled digits.

A small CNN trained on a fixed 80 % training split of scikit-learn's digits (≥ 98 % held-out
accuracy), built, trained and cached by `tfbiggan.metrics.classifier` (which says what its
features and predictions are used for). Inputs are resized to 16×16 first (the digits carry
8×8 pixels of information), so the cost does not grow with the resolution.
"""

import numpy as np

from tfbiggan.data import digits as digits_data
from tfbiggan.metrics import classifier as classifier_lib
from tfbiggan.metrics.classifier import DEFAULT_CACHE_DIR  # noqa: F401  (re-exported)
from tfbiggan.metrics.classifier import class_consistency  # noqa: F401  (re-exported)

SPLIT_SEED = 0
# The classifier is the CNN of `classifier.build_model`; `DigitsClassifier` is its callable.
DigitsClassifier = classifier_lib.FeatureClassifier


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


SPEC = classifier_lib.ClassifierSpec(
    name="digits", num_classes=digits_data.NUM_CLASSES, splits=digits_split,
    working_resolution=16, shift=0.08, epochs=15, batch_size=64, min_accuracy=0.9)


def build_digits_model(resolution, seed=0):
    """CNN [B, R, R, 1] → (features [B, 128], logits [B, 10])."""
    return classifier_lib.build_model(SPEC, resolution, seed)


def train_digits_model(resolution, epochs=15, batch_size=64, seed=0):
    """Trains the CNN on the fixed training split; returns (model, held-out accuracy)."""
    import dataclasses  # pylint: disable=import-outside-toplevel
    spec = dataclasses.replace(SPEC, epochs=epochs, batch_size=batch_size)
    return classifier_lib.train_model(spec, resolution, seed)


def classifier_path(resolution, cache_dir=None):
    """Cache file of the classifier for `resolution`."""
    return classifier_lib.classifier_path(SPEC, resolution, cache_dir)


def load_digits_classifier(resolution=32, cache_dir=None, seed=0):
    """The digits classifier for `resolution`, trained on first use and cached as `.keras`.

    Args:
      resolution: image side (≥ 8) the classifier accepts.
      cache_dir: directory of the cached model (default `~/.cache/tfbiggan`).
      seed: training seed used when no cached model exists.

    Returns:
      A `DigitsClassifier` (images [B, R, R, 1 or 3] in [-1, 1] → (features, logits)).

    Example:
      >>> classifier = load_digits_classifier(32, cache_dir="/tmp/tfbiggan")
    """
    return classifier_lib.load_classifier(
        SPEC, resolution, cache_dir, seed,
        train_fn=lambda spec, res, s: train_digits_model(res, spec.epochs, spec.batch_size, s))
