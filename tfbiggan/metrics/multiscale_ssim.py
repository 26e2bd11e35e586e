"""Multi-scale structural similarity (MS-SSIM) between image pairs.

Wang, Simoncelli & Bovik 2003, "Multiscale structural similarity for image quality
assessment"; used as a diversity measure for class-conditional GANs by Odena et al. 2017
("Conditional Image Synthesis with Auxiliary Classifier GANs", arXiv 1610.09585): a lower mean
MS-SSIM between random sample pairs means more diverse samples.
"""

import numpy as np
import tensorflow as tf

from tfbiggan.metrics import _arrays

# Per-scale exponents of Wang et al. 2003 (finest scale first).
STANDARD_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def default_power_factors(size, filter_size=11):
    """Scale exponents that fit images of side `size`.

    The coarsest scale must be at least `filter_size` pixels wide (the SSIM window is applied
    without padding), so small images use only the first scales of the standard five, with
    their exponents renormalised to sum to one. 32×32 images with an 11×11 window use two scales.
    """
    scales = 1
    while (scales < len(STANDARD_POWER_FACTORS)
           and -(-size // 2 ** scales) >= filter_size):
        scales += 1
    factors = np.asarray(STANDARD_POWER_FACTORS[:scales])
    return tuple(float(f) for f in factors / factors.sum())


def ms_ssim(images_a, images_b, filter_size=11, filter_sigma=1.5, power_factors=None,
            batch_size=256):
    """Mean MS-SSIM over the pairs (images_a[i], images_b[i]).

    Images in [-1, 1] are mapped to [0, 1] and compared with dynamic range 1 (the luminance
    term is not shift invariant, so the range matters). Computed with
    `tf.image.ssim_multiscale`.

    Args:
      images_a, images_b: NHWC images in [-1, 1] with equal shapes.
      filter_size: side of the Gaussian SSIM window (11); reduced to the image side when the
        images are smaller.
      filter_sigma: standard deviation of the window (1.5).
      power_factors: per-scale exponents, finest first; by default the standard five,
        truncated and renormalised to fit small images (`default_power_factors`).
      batch_size: pairs per call.

    Returns:
      The mean MS-SSIM as a Python float (1 for identical images).

    Example:
      >>> diversity = ms_ssim(samples[0::2], samples[1::2])

    Reference: Wang et al. 2003; Odena et al. 2017 (arXiv 1610.09585).
    """
    a = _arrays.as_float64(images_a, "images_a", ndim=4).astype(np.float32)
    b = _arrays.as_float64(images_b, "images_b", ndim=4).astype(np.float32)
    if a.shape != b.shape:
        raise ValueError(
            f"`images_a` and `images_b` must have the same shape, got {a.shape} and {b.shape}.")
    if a.shape[0] == 0:
        raise ValueError("`images_a` and `images_b` are empty.")
    filter_size = _arrays.check_positive_int(filter_size, "filter_size")
    batch_size = _arrays.check_positive_int(batch_size, "batch_size")
    size = min(a.shape[1], a.shape[2])
    filter_size = min(filter_size, size)
    if power_factors is None:
        power_factors = default_power_factors(size, filter_size)
    power_factors = tuple(float(p) for p in power_factors)
    coarsest = size
    for _ in range(len(power_factors) - 1):
        coarsest = -(-coarsest // 2)
    if not power_factors or coarsest < filter_size:
        raise ValueError(
            f"`power_factors` must have between 1 and as many scales as fit {size}-pixel "
            f"images with a {filter_size}-pixel window, got {power_factors!r}.")
    values = []
    for start in range(0, a.shape[0], batch_size):
        batch_a = (a[start:start + batch_size] + 1.0) * 0.5
        batch_b = (b[start:start + batch_size] + 1.0) * 0.5
        values.append(tf.image.ssim_multiscale(
            batch_a, batch_b, max_val=1.0, power_factors=power_factors,
            filter_size=filter_size, filter_sigma=filter_sigma).numpy())
    return float(np.mean(np.concatenate(values), dtype=np.float64))
