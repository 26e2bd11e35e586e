"""BigGAN image preprocessing: centre crop, area resize, [-1, 1] scaling, seeded flips.

BigGAN (arXiv 1809.11096) trains on ImageNet images centre-cropped to a square along their long
edge and resized to the model resolution; pixels are scaled to [-1, 1] to match the generator's
tanh output. All functions here are pure TensorFlow ops, usable inside `tf.data` maps.
"""

import tensorflow as tf


def to_rgb(image):
    """Converts an [H, W, C] image with 1 (grey), 2 (grey + alpha), 3 or 4 (RGBA) channels to RGB.

    Grey channels are repeated; alpha channels are dropped. Works when C is only known at run
    time (e.g. after `tf.io.decode_image(..., channels=0)`).

    Args:
      image: [H, W, C] tensor of any dtype.

    Returns:
      [H, W, 3] tensor of the same dtype.

    Example:
      >>> to_rgb(tf.zeros([4, 5, 1], tf.uint8)).shape
      TensorShape([4, 5, 3])
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank is not None and image.shape.rank != 3:
        raise ValueError(
            f"`image` must have rank 3 [H, W, C], got shape {image.shape}.")
    channels = image.shape[-1]
    if channels is not None:
        if channels not in (1, 2, 3, 4):
            raise ValueError(
                f"`image` must have 1, 2, 3 or 4 channels, got {channels} (shape {image.shape}).")
        if channels < 3:
            return tf.tile(image[..., :1], [1, 1, 3])
        return image[..., :3]
    rgb = tf.cond(tf.shape(image)[-1] < 3,
                  lambda: tf.tile(image[..., :1], [1, 1, 3]),
                  lambda: image[..., :3])
    return tf.ensure_shape(rgb, [None, None, 3])


def center_crop_square(image):
    """Crops the centre square of an [H, W, C] image along its long edge.

    The kept side is min(H, W); the offset along the long edge is (long - short) // 2.

    Args:
      image: [H, W, C] tensor.

    Returns:
      [S, S, C] tensor with S = min(H, W).

    Example:
      >>> center_crop_square(tf.zeros([4, 6, 3])).shape
      TensorShape([4, 4, 3])
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top:top + side, left:left + side, :]


def scale_to_unit_range(image):
    """Scales pixels to float32 in [-1, 1].

    Integer images use their dtype's full range (uint8: x / 127.5 - 1); floating images are
    taken to lie in [0, 1] (x * 2 - 1).

    Args:
      image: tensor of an integer or floating dtype.

    Returns:
      float32 tensor in [-1, 1].

    Example:
      >>> scale_to_unit_range(tf.constant([0, 255], tf.uint8)).numpy()
      array([-1.,  1.], dtype=float32)
    """
    return tf.clip_by_value(_to_unit_float(image) * 2.0 - 1.0, -1.0, 1.0)


def _to_unit_float(image):
    """float32 in [0, 1]: integers divided by their dtype's maximum, floats kept."""
    image = tf.convert_to_tensor(image)
    if image.dtype.is_integer:
        return tf.cast(image, tf.float32) / float(image.dtype.max)
    if image.dtype.is_floating:
        return tf.cast(image, tf.float32)
    raise TypeError(
        f"`image` must have an integer or floating dtype, got {image.dtype.name}.")


def preprocess_image(image, resolution, allow_upscale=False):
    """BigGAN preprocessing of one image: RGB, centre crop, area resize, [-1, 1].

    Args:
      image: [H, W, C] image, C in {1, 2, 3, 4}; uint8 (0..255) or float in [0, 1].
      resolution: output side R (positive integer).
      allow_upscale: when False, an image whose short side is below R fails with an
        `InvalidArgumentError` naming its size; when True it is upsampled.

    Returns:
      float32 [R, R, 3] in [-1, 1] with a static shape.

    Example:
      >>> image = tf.zeros([48, 64, 4], tf.uint8)
      >>> preprocess_image(image, 32).shape
      TensorShape([32, 32, 3])
    """
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 1:
        raise ValueError(f"`resolution` must be a positive integer, got {resolution!r}.")
    image = to_rgb(image)
    if not allow_upscale:
        shape = tf.shape(image)
        check = tf.debugging.Assert(
            tf.minimum(shape[0], shape[1]) >= resolution,
            ["image smaller than the target resolution", resolution,
             "(set allow_upscale=True to upsample it); image size [H, W] =", shape[:2]])
        with tf.control_dependencies([check]):
            image = tf.identity(image)
    image = center_crop_square(image)
    # Area resize of [0, 1] values: averages of pixels stay in range; scaling comes after.
    image = _to_unit_float(image)
    image = tf.image.resize(image, (resolution, resolution), method="area")
    image = tf.clip_by_value(image * 2.0 - 1.0, -1.0, 1.0)
    return tf.ensure_shape(image, [resolution, resolution, 3])


def random_flip(image, seed):
    """Flips an image left-right with probability 1/2, deterministically given `seed`.

    Args:
      image: [H, W, C] tensor.
      seed: int32/int64 tensor of shape [2] (a stateless random seed).

    Returns:
      The image, possibly mirrored along its width.

    Example:
      >>> flipped = random_flip(tf.zeros([4, 4, 3]), tf.constant([1, 2], tf.int64))
    """
    return tf.image.stateless_random_flip_left_right(image, seed=seed)
