"""The bundled digits: scikit-learn's `load_digits` (1,797 8×8 images, 10 classes).

They ship inside scikit-learn, so demos and tests never download anything.
"""

import numpy as np
import tensorflow as tf

NUM_CLASSES = 10
CLASS_NAMES = tuple(str(d) for d in range(NUM_CLASSES))


def load_digits_images(resolution=32, channels=3):
    """Returns the digits as images ready for a generator or discriminator.

    Args:
      resolution: output height and width (the 8×8 originals are resized bilinearly).
      channels: 1 (grey) or 3 (grey repeated as RGB).

    Returns:
      (images float32 [1797, resolution, resolution, channels] in [-1, 1],
       labels int32 [1797]).
    """
    if not isinstance(resolution, int) or resolution < 8:
        raise ValueError(
            f"`resolution` must be an integer >= 8, got {resolution!r}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels!r}.")
    from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel

    digits = load_digits()
    images = digits.images.astype(np.float32)[..., None] / 16.0  # [N, 8, 8, 1] in [0, 1]
    images = tf.image.resize(images, (resolution, resolution), method="bilinear").numpy()
    images = np.clip(images, 0.0, 1.0) * 2.0 - 1.0
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return images.astype(np.float32), digits.target.astype(np.int32)
