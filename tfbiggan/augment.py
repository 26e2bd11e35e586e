"""DiffAugment: differentiable augmentation of every image the discriminator sees.

Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training"
(arXiv 2006.10738). The same family of random transforms T is applied to real and generated
images, in the discriminator's update (D(T(x)), D(T(G(z)))) and in the generator's
(D(T(G(z)))); T is differentiable, so G's gradient flows through it. D then cannot memorise the
training images, which is what makes a GAN collapse on small data sets.

Policies (comma-separated, applied in this order of the string):
  color        brightness: x + U(−0.5, 0.5) per image; saturation: the deviation from the
               per-pixel channel mean scaled by U(0, 2); contrast: the deviation from the
               per-image mean scaled by U(0.5, 1.5).
  translation  shift by an integer number of pixels, up to 1/8 of the image size in each
               direction (uniform in [−s, s], s = round(size / 8)), padding with zeros.
  cutout       zero one square of half the image size, its centre uniform over the image
               (the part outside the image is dropped).
The paper's policy for BigGAN on CIFAR-10 is "color,translation,cutout".

Randomness is stateless: every parameter is drawn from `seed` for a whole (global) batch of
`total` examples and each call takes the rows [start, start + B), so the same images get the
same transforms on one device or split over replicas, and a run is reproducible from its seed.
"""

import tensorflow as tf

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
_FLOAT_STEPS = 1 << 24


def parse_policy(policy):
    """The policy names of a comma-separated string (or sequence); "" / None → ().

    Raises:
      ValueError: an unknown or repeated name; the message lists the accepted ones.

    Example:
      >>> parse_policy("color,translation,cutout")
      ('color', 'translation', 'cutout')
    """
    if policy is None:
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = tuple(name.strip() for name in names if name.strip())
    unknown = [name for name in names if name not in POLICIES]
    if unknown or len(set(names)) != len(names):
        problem = f"unknown name(s) {unknown}" if unknown else "a repeated name"
        raise ValueError(f"DiffAugment policy {policy!r} has {problem}; accepted: a "
                         f"comma-separated subset of {', '.join(POLICIES)} (or '' for none).")
    return names


def _draw(seed, salt, total, start, count, minval=0, maxval=None):
    """Rows [start, start + count) of a stateless draw over a global batch of `total`.

    Integers uniform in [minval, maxval) with `maxval`, else floats uniform in [0, 1) on a
    2^-24 grid. Both come from TensorFlow's integer kernel, whose values XLA reproduces
    exactly on the CPU (its float and normal kernels draw other numbers), so a jit-compiled
    step augments exactly as an op-by-op one.
    """
    seed = tf.cast(seed, tf.int64) + tf.constant([0, salt], tf.int64)
    high = _FLOAT_STEPS if maxval is None else maxval
    values = tf.random.stateless_uniform([total], seed=seed, minval=minval, maxval=high,
                                         dtype=tf.int32, alg="philox")[start:start + count]
    return values if maxval is not None else tf.cast(values, tf.float32) / float(_FLOAT_STEPS)


def _per_image(values, images):
    return tf.reshape(tf.cast(values, images.dtype), [-1, 1, 1, 1])


def color(images, seed, start=0, total=None):
    """Random brightness, saturation and contrast (DiffAugment's `color`)."""
    count = tf.shape(images)[0]
    total = count if total is None else total
    brightness = _per_image(_draw(seed, 1, total, start, count), images) - 0.5
    images = images + brightness
    saturation = _per_image(_draw(seed, 2, total, start, count), images) * 2.0
    mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - mean) * saturation + mean
    contrast = _per_image(_draw(seed, 3, total, start, count), images) + 0.5
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * contrast + mean


def _shift_rows(images, shift, axis):
    """out[..., i, ...] = images[..., i − shift, ...] along `axis` (1 or 2), zero outside."""
    size = images.shape[axis]
    source = tf.range(size)[None, :] - shift[:, None]  # [B, size]
    valid = tf.logical_and(source >= 0, source < size)
    moved = tf.gather(images, tf.clip_by_value(source, 0, size - 1), axis=axis, batch_dims=1)
    mask = tf.cast(valid, images.dtype)
    mask = mask[:, :, None, None] if axis == 1 else mask[:, None, :, None]
    return moved * mask


def translation(images, seed, start=0, total=None, ratio=TRANSLATION_RATIO):
    """Random integer shifts of up to round(ratio · size) pixels, zero padding."""
    count = tf.shape(images)[0]
    total = count if total is None else total
    height, width = images.shape[1], images.shape[2]
    shifts = []
    for salt, size in ((4, height), (5, width)):
        limit = int(size * ratio + 0.5)
        shifts.append(_draw(seed, salt, total, start, count, minval=-limit,
                            maxval=limit + 1))
    return _shift_rows(_shift_rows(images, shifts[0], 1), shifts[1], 2)


def cutout(images, seed, start=0, total=None, ratio=CUTOUT_RATIO):
    """Zeroes one square of side round(ratio · size) whose centre is uniform over the image."""
    count = tf.shape(images)[0]
    total = count if total is None else total
    height, width = images.shape[1], images.shape[2]
    inside = []
    for salt, size in ((6, height), (7, width)):
        side = int(size * ratio + 0.5)
        # The square covers [centre − side // 2, centre − side // 2 + side); centres 0..size
        # for an even side (as in the paper's code), 0..size − 1 for an odd one.
        centre = _draw(seed, salt, total, start, count, maxval=size + (1 - side % 2))
        first = centre - side // 2
        index = tf.range(size)[None, :]
        inside.append(tf.logical_and(index >= first[:, None], index < first[:, None] + side))
    square = tf.logical_and(inside[0][:, :, None], inside[1][:, None, :])
    return images * tf.cast(tf.logical_not(square), images.dtype)[..., None]


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(images, policy, seed, start=0, total=None):
    """Applies a DiffAugment policy to a batch of images.

    Args:
      images: [B, H, W, C] float images (any range; the paper's are in [-1, 1]) with static
        H, W and C.
      policy: policy names, a comma-separated string or a sequence (see `POLICIES`); empty
        for none.
      seed: int [2] stateless seed.
      start: index of this batch's first example within the global draw.
      total: number of examples of the global draw (None: B). Parameters are drawn for all
        `total` and rows [start, start + B) are used, so slices of one global batch get
        the transforms the whole batch would.

    Returns:
      The augmented images, same shape and dtype; differentiable with respect to `images`.

    Example:
      >>> augmented = diff_augment(images, "color,translation,cutout", seed=[0, 1])
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4 or None in images.shape[1:]:
        raise ValueError(f"`images` must be [B, H, W, C] with static H, W and C, got "
                         f"{images.shape}.")
    seed = tf.convert_to_tensor(seed)
    for index, name in enumerate(parse_policy(policy)):
        images = _FUNCTIONS[name](images, seed + tf.constant([0, 100 * (index + 1)],
                                                             seed.dtype), start, total)
    return images
