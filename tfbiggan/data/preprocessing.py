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


_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601; the weights sum to 1, so grey → RGB → grey is exact.
CHANNELS = (1, 3)
FITS = ("crop_resize", "pad")


def to_grey(image):
    """Converts an [H, W, C] image with 1, 2 (grey + alpha), 3 or 4 (RGBA) channels to grey.

    RGB is weighted by BT.601 luma (0.299, 0.587, 0.114) and rounded for integer images, so
    an RGB image whose channels are equal (a grey image made RGB) gives back its grey values
    exactly. Works when C is only known at run time.

    Args:
      image: [H, W, C] tensor of an integer or floating dtype.

    Returns:
      [H, W, 1] tensor of the same dtype.

    Example:
      >>> to_grey(tf.zeros([4, 5, 3], tf.uint8)).shape
      TensorShape([4, 5, 1])
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank is not None and image.shape.rank != 3:
        raise ValueError(f"`image` must have rank 3 [H, W, C], got shape {image.shape}.")

    def luma():
        rgb = tf.cast(image[..., :3], tf.float32)
        grey = tf.tensordot(rgb, tf.constant(_LUMA, tf.float32), axes=[[2], [0]])[..., None]
        if image.dtype.is_integer:
            grey = tf.round(grey)
        return tf.cast(grey, image.dtype)

    channels = image.shape[-1]
    if channels is not None:
        if channels not in (1, 2, 3, 4):
            raise ValueError(
                f"`image` must have 1, 2, 3 or 4 channels, got {channels} (shape {image.shape}).")
        return image[..., :1] if channels < 3 else luma()
    grey = tf.cond(tf.shape(image)[-1] < 3, lambda: image[..., :1], luma)
    return tf.ensure_shape(grey, [None, None, 1])


def to_channels(image, channels):
    """`to_grey` for `channels` = 1, `to_rgb` for 3."""
    if channels not in CHANNELS:
        raise ValueError(f"`channels` must be 1 (grey) or 3 (RGB), got {channels!r}.")
    return to_grey(image) if channels == 1 else to_rgb(image)


def pad_to_square(image, resolution):
    """Centres an [H, W, C] image with H, W ≤ `resolution` on a zero (black) square canvas.

    Every pixel is kept as it is (no interpolation); a side that is too large fails with an
    `InvalidArgumentError` naming the image size. The MNIST family (28×28, a dark background
    around a centred object) becomes 32×32 this way, as for LeNet-5's input.

    Args:
      image: [H, W, C] tensor.
      resolution: the side R of the canvas.

    Returns:
      [R, R, C] tensor of the same dtype.

    Example:
      >>> pad_to_square(tf.ones([28, 28, 1], tf.uint8), 32).shape
      TensorShape([32, 32, 1])
    """
    static = image.shape[:2]
    if any(side is not None and side > resolution for side in static):
        raise ValueError(f"image larger than the resolution {resolution} cannot be padded "
                         f"(use fit='crop_resize' to crop and resize it); image size [H, W] = "
                         f"{list(static)}.")
    shape = tf.shape(image)
    check = tf.debugging.Assert(
        tf.reduce_all(shape[:2] <= resolution),
        ["image larger than the resolution", resolution, "cannot be padded (use fit="
         "'crop_resize' to crop and resize it); image size [H, W] =", shape[:2]])
    with tf.control_dependencies([check]):
        top, left = (resolution - shape[0]) // 2, (resolution - shape[1]) // 2
        return tf.pad(image, [[top, resolution - shape[0] - top],
                              [left, resolution - shape[1] - left], [0, 0]])


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


def preprocess_image(image, resolution, allow_upscale=False, channels=3, fit="crop_resize"):
    """BigGAN preprocessing of one image: channels, centre crop, area resize, [-1, 1].

    Args:
      image: [H, W, C] image, C in {1, 2, 3, 4}; uint8 (0..255) or float in [0, 1].
      resolution: output side R (positive integer).
      allow_upscale: with fit "crop_resize", when False an image whose short side is below R
        fails with an `InvalidArgumentError` naming its size; when True it is upsampled.
      channels: 3 (RGB; grey is repeated) or 1 (grey; RGB is weighted by BT.601 luma).
      fit: "crop_resize" (centre square crop along the long edge, area resize: BigGAN's
        ImageNet preprocessing) or "pad" (centred on a black R×R canvas, every pixel kept;
        images must not exceed R).

    Returns:
      float32 [R, R, channels] in [-1, 1] with a static shape.

    Example:
      >>> image = tf.zeros([48, 64, 4], tf.uint8)
      >>> preprocess_image(image, 32).shape
      TensorShape([32, 32, 3])
    """
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 1:
        raise ValueError(f"`resolution` must be a positive integer, got {resolution!r}.")
    if fit not in FITS:
        raise ValueError(f"`fit` must be one of {FITS}, got {fit!r}.")
    image = to_channels(image, channels)
    if fit == "pad":
        image = _to_unit_float(pad_to_square(image, resolution))
    else:
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
    return tf.ensure_shape(image, [resolution, resolution, channels])


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
