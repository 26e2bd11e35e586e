"""The Fashion-MNIST classifier: the feature network of models trained on Fashion-MNIST.

A small CNN trained on the 60,000 training images (≥ 90 % accuracy on the 10,000 test images
is required), built, trained and cached by `tfbiggan.metrics.classifier`. Inputs are the
28×28 images padded to 32×32 (as the training pipeline's `fit="pad"` does) or resized from
other resolutions.
"""

import numpy as np
import tensorflow as tf

from tfbiggan.data import idx
from tfbiggan.data import sources
from tfbiggan.metrics import classifier as classifier_lib


def fashion_mnist_split(resolution, path=None):
    """(train images, train labels, test images, test labels) of Fashion-MNIST.

    Grey images [N, R, R, 1] in [-1, 1]: the 28×28 originals centred on a black R×R canvas
    for R ≥ 28, else area-resized.

    Args:
      resolution: image side R.
      path: a directory of the four IDX files (default: `tfbiggan.data.idx.FASHION_MNIST`'s
        search: $TFBIGGAN_FASHION_MNIST, Debian's /usr/share/datasets/fashion-mnist, a
        prepared TFDS copy).
    """
    out = []
    for split in ("train", "test"):
        files = sources.idx_files(path, idx.FASHION_MNIST.name, split)
        if files is None:  # A prepared TFDS copy.
            import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
            images, labels = tfds.as_numpy(tfds.load(
                idx.FASHION_MNIST.tfds_name, split=split, as_supervised=True, batch_size=-1))
        else:
            images, labels = idx.load_idx_split(*files, num_classes=10)
        images = tf.convert_to_tensor(images, tf.float32) / 255.0
        if resolution >= images.shape[1]:
            pad = resolution - images.shape[1]
            images = tf.pad(images, [[0, 0], [pad // 2, pad - pad // 2],
                                     [pad // 2, pad - pad // 2], [0, 0]])
        else:
            images = tf.image.resize(images, (resolution, resolution), method="area")
        out += [(images.numpy() * 2.0 - 1.0).astype(np.float32), np.asarray(labels, np.int32)]
    return tuple(out)


SPEC = classifier_lib.ClassifierSpec(
    name="fashion_mnist", num_classes=10, splits=fashion_mnist_split, working_resolution=None,
    widths=(32, 64, 128), shift=0.0, epochs=4, batch_size=128, learning_rate=3e-3,
    min_accuracy=0.9)


def load_fashion_mnist_classifier(resolution=32, cache_dir=None, seed=0):
    """The Fashion-MNIST classifier for `resolution`, trained on first use and cached.

    Returns:
      A `FeatureClassifier` (images [B, R, R, 1 or 3] in [-1, 1] → (features, logits));
      its `accuracy` is the test-split accuracy.

    Example:
      >>> classifier = load_fashion_mnist_classifier(32)
    """
    return classifier_lib.load_classifier(SPEC, resolution, cache_dir, seed)
