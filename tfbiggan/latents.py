"""Seeded latent and class draws: the truncation trick's two conventions.

- "resample": z ~ N(0, I) with every component |z_i| > t redrawn until it lies inside
  (Brock et al. 2019, §3.1);
- "hub": z = t · truncated_normal(−2, 2), the convention of the DeepMind TF-Hub modules.

The same seed gives the same array. `tfbiggan.sampling` offers these functions under the same
names; `tfbiggan.standing_stats` draws its batches with them.
"""

import numbers

import numpy as np
from scipy import stats

from tfbiggan import validation

MODES = ("resample", "hub")


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def check_truncation(truncation, mode):
    """Validates a truncation value for `mode`; returns it as a float."""
    validation.one_of("mode", mode, MODES)
    if mode == "hub":
        return validation.in_range("truncation", truncation, 0.0, 1.0, low_inclusive=False)
    if (isinstance(truncation, bool) or not isinstance(truncation, numbers.Real)
            or np.isnan(truncation) or truncation <= 0):
        raise ValueError(f"`truncation` must be a positive number (or inf for no truncation) "
                         f"in mode 'resample', got {truncation!r}.")
    return float(truncation)


def truncated_z(batch, dim_z, truncation, seed, mode="resample"):
    """Samples truncated latents [batch, dim_z] (float32).

    Args:
      batch: number of latents.
      dim_z: latent size.
      truncation: "resample": threshold t > 0 (inf = plain N(0, I)); "hub": scale in (0, 1].
      seed: an int, a sequence of ints or a `np.random.Generator`.
      mode: "resample" (the paper) or "hub" (t · truncated_normal(±2), the TF-Hub modules).

    Returns:
      float32 array [batch, dim_z]; every |z| <= t in "resample", <= 2t in "hub".

    Example:
      >>> z = truncated_z(8, 120, 0.5, seed=0)
      >>> bool(np.all(np.abs(z) <= 0.5))
      True
    """
    batch = validation.positive_int("batch", batch, allow_zero=True)
    dim_z = validation.positive_int("dim_z", dim_z)
    truncation = check_truncation(truncation, mode)
    rng = _rng(seed)
    if mode == "hub":
        values = stats.truncnorm.rvs(-2.0, 2.0, size=(batch, dim_z), random_state=rng)
        return (truncation * values).astype(np.float32)
    z = rng.standard_normal((batch, dim_z))
    outside = np.abs(z) > truncation
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > truncation
    return z.astype(np.float32)


def sample_classes(batch, num_classes, seed):
    """Uniform random class ids [batch] (int32) in [0, num_classes).

    Example:
      >>> sample_classes(4, 10, seed=0).shape
      (4,)
    """
    batch = validation.positive_int("batch", batch, allow_zero=True)
    num_classes = validation.positive_int("num_classes", num_classes)
    return _rng(seed).integers(0, num_classes, size=batch).astype(np.int32)
