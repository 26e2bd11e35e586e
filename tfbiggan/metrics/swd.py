"""Sliced Wasserstein distance on Laplacian-pyramid patches (Progressive GAN).

Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation" (arXiv 1710.10196), §5: 7×7 neighbourhoods are sampled from every level of each
image's Laplacian pyramid (down to 16×16), normalised per colour channel, and the sliced
Wasserstein distance between the real and generated patch sets is estimated with random unit
projections: each projection reduces both sets to 1-D, where the Wasserstein-1 distance is the
mean absolute difference of the sorted values.
"""

import numpy as np
import scipy.ndimage

from tfbiggan.metrics import _arrays

_BINOMIAL_5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0


def _blur(images):
    """Separable 5×5 binomial filter with mirror boundaries over H and W of NHWC images."""
    out = scipy.ndimage.correlate1d(images, _BINOMIAL_5, axis=1, mode="mirror")
    return scipy.ndimage.correlate1d(out, _BINOMIAL_5, axis=2, mode="mirror")


def _pyramid_down(images):
    return _blur(images)[:, ::2, ::2]


def _pyramid_up(images, shape):
    upsampled = np.zeros(shape, np.float32)
    upsampled[:, ::2, ::2] = images * 4.0  # Zero insertion keeps a quarter of the mass.
    return _blur(upsampled)


def laplacian_pyramid(images, num_levels):
    """Laplacian pyramid of NHWC images: `num_levels - 1` band-pass levels, then the low-pass.

    Level 0 has the input resolution; each following level halves it.
    """
    pyramid = [np.asarray(images, np.float32)]
    for _ in range(num_levels - 1):
        coarse = _pyramid_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - _pyramid_up(coarse, pyramid[-1].shape)
        pyramid.append(coarse)
    return pyramid


def _num_levels(resolution, min_resolution):
    levels = 1
    while resolution // 2 >= min_resolution and resolution % 2 == 0:
        resolution //= 2
        levels += 1
    return levels


def _extract_patches(level, rows, cols, patch_size):
    """Patches [N * P, patch_size, patch_size, C] at top-left corners rows/cols [N, P]."""
    offsets = np.arange(patch_size)
    image_index = np.arange(level.shape[0])[:, None, None, None]
    y = (rows[:, :, None, None] + offsets[None, None, :, None])
    x = (cols[:, :, None, None] + offsets[None, None, None, :])
    patches = level[image_index, y, x]  # [N, P, patch, patch, C]
    return patches.reshape((-1,) + patches.shape[2:])


def _normalise(descriptors):
    """Zero mean, unit standard deviation per channel over all patches and positions."""
    mean = descriptors.mean(axis=(0, 1, 2), dtype=np.float64)
    std = descriptors.std(axis=(0, 1, 2), dtype=np.float64)
    normalised = (descriptors - mean) / np.maximum(std, 1e-8)
    return normalised.reshape(descriptors.shape[0], -1).astype(np.float32)


def sliced_wasserstein_1d(a, b, rng, dir_repeats, dirs_per_repeat):
    """SWD between equally sized descriptor sets [M, D], averaged over random unit directions."""
    results = []
    for _ in range(dir_repeats):
        directions = rng.standard_normal((a.shape[1], dirs_per_repeat)).astype(np.float32)
        directions /= np.sqrt(np.sum(directions ** 2, axis=0, keepdims=True))
        proj_a = np.sort(a @ directions, axis=0)
        proj_b = np.sort(b @ directions, axis=0)
        results.append(np.mean(np.abs(proj_a - proj_b), dtype=np.float64))
    return float(np.mean(results))


def sliced_wasserstein(real_images, fake_images, min_resolution=16, patch_size=7,
                       patches_per_image=128, dir_repeats=4, dirs_per_repeat=128,
                       batch_size=256, seed=0):
    """Per-level and average sliced Wasserstein distances between two image sets.

    The pyramid has levels at the input resolution halving down to `min_resolution`. The same
    random patch positions are used for the i-th real and i-th fake image (common random
    numbers: lower variance, identical sets give exactly 0), and each set's descriptors are
    normalised with that set's own per-channel mean and standard deviation, as in Progressive
    GAN, so a global brightness offset is not measured. Progressive GAN reports the values
    multiplied by 10³; they are returned unscaled here.

    Args:
      real_images, fake_images: NHWC images in [-1, 1], same shape, H and W ≥ min_resolution.
      min_resolution: coarsest pyramid level (16 in the paper); ≥ patch_size.
      patch_size: side of the sampled neighbourhoods (7).
      patches_per_image: neighbourhoods sampled per image and level (128).
      dir_repeats: independent sets of random directions (4).
      dirs_per_repeat: random unit directions per set (128).
      batch_size: images processed at a time when building pyramids.
      seed: seed of the patch positions and directions.

    Returns:
      (list of per-level distances from finest to coarsest, their average) as Python floats.

    Example:
      >>> per_level, swd = sliced_wasserstein(real, fake, patches_per_image=64)

    Reference: Karras et al. 2018 (arXiv 1710.10196).
    """
    real = _arrays.as_float64(real_images, "real_images", ndim=4).astype(np.float32)
    fake = _arrays.as_float64(fake_images, "fake_images", ndim=4).astype(np.float32)
    if real.shape != fake.shape:
        raise ValueError(
            f"`real_images` and `fake_images` must have the same shape, got {real.shape} and "
            f"{fake.shape}.")
    patch_size = _arrays.check_positive_int(patch_size, "patch_size")
    min_resolution = _arrays.check_positive_int(min_resolution, "min_resolution")
    if min_resolution < patch_size:
        raise ValueError(
            f"`min_resolution` must be >= patch_size ({patch_size}), got {min_resolution}.")
    resolution = min(real.shape[1], real.shape[2])
    if resolution < min_resolution:
        raise ValueError(
            f"images of {real.shape[1]}×{real.shape[2]} are smaller than `min_resolution` "
            f"({min_resolution}); lower `min_resolution`.")
    patches_per_image = _arrays.check_positive_int(patches_per_image, "patches_per_image")
    dir_repeats = _arrays.check_positive_int(dir_repeats, "dir_repeats")
    dirs_per_repeat = _arrays.check_positive_int(dirs_per_repeat, "dirs_per_repeat")
    batch_size = _arrays.check_positive_int(batch_size, "batch_size")

    num_levels = _num_levels(resolution, min_resolution)
    rng = np.random.default_rng(seed)
    real_desc = [[] for _ in range(num_levels)]
    fake_desc = [[] for _ in range(num_levels)]
    for start in range(0, real.shape[0], batch_size):
        real_pyr = laplacian_pyramid(real[start:start + batch_size], num_levels)
        fake_pyr = laplacian_pyramid(fake[start:start + batch_size], num_levels)
        for level, (real_level, fake_level) in enumerate(zip(real_pyr, fake_pyr)):
            n, h, w = real_level.shape[:3]
            rows = rng.integers(0, h - patch_size + 1, size=(n, patches_per_image))
            cols = rng.integers(0, w - patch_size + 1, size=(n, patches_per_image))
            real_desc[level].append(_extract_patches(real_level, rows, cols, patch_size))
            fake_desc[level].append(_extract_patches(fake_level, rows, cols, patch_size))
    per_level = []
    for level in range(num_levels):
        a = _normalise(np.concatenate(real_desc[level]))
        b = _normalise(np.concatenate(fake_desc[level]))
        per_level.append(sliced_wasserstein_1d(a, b, rng, dir_repeats, dirs_per_repeat))
    return per_level, float(np.mean(per_level))
