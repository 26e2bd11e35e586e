"""Kernel Inception Distance (KID).

Bińkowski et al. 2018, "Demystifying MMD GANs" (arXiv 1801.01401): the unbiased estimate of
the squared maximum mean discrepancy with the cubic polynomial kernel
k(x, y) = (xᵀy / d + 1)³, averaged over random subsets.
"""

import numpy as np

from tfbiggan.metrics import _arrays


def polynomial_kernel(x, y):
    """k(x, y) = (xᵀy / d + 1)³ for all pairs of rows: [N, d] × [M, d] → [N, M]."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased MMD² between samples x [m, d] and y [n, d] under the cubic polynomial kernel."""
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return term_xx + term_yy - 2.0 * k_xy.mean()


def kid_from_activations(act1, act2, num_subsets=100, subset_size=1000, seed=0):
    """KID (mean, std) over random subsets of two activation sets.

    For each of `num_subsets` subsets, m = min(subset_size, N1, N2) rows are drawn without
    replacement from each set with `np.random.default_rng(seed)`: first
    `rng.choice(N1, m, replace=False)` for `act1`, then `rng.choice(N2, m, replace=False)` for
    `act2`. The standard deviation is over subsets (ddof = 0).

    Args:
      act1, act2: activations [N1, d] and [N2, d], N ≥ 2 each.
      num_subsets: number of subsets averaged.
      subset_size: samples per subset (clipped to the smaller set).
      seed: seed of the subset sampling.

    Returns:
      (mean, std) of the unbiased MMD² as Python floats.

    Example:
      >>> kid_mean, kid_std = kid_from_activations(real_features, fake_features)

    Reference: Bińkowski et al. 2018 (arXiv 1801.01401).
    """
    act1 = _arrays.as_float64(act1, "act1", ndim=2)
    act2 = _arrays.as_float64(act2, "act2", ndim=2)
    if act1.shape[1] != act2.shape[1]:
        raise ValueError(
            f"`act1` and `act2` must have the same feature dimension, got {act1.shape[1]} "
            f"and {act2.shape[1]}.")
    num_subsets = _arrays.check_positive_int(num_subsets, "num_subsets")
    subset_size = _arrays.check_positive_int(subset_size, "subset_size", minimum=2)
    if min(act1.shape[0], act2.shape[0]) < 2:
        raise ValueError(
            f"each set needs at least 2 samples, got {act1.shape[0]} and {act2.shape[0]}.")
    m = min(subset_size, act1.shape[0], act2.shape[0])
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = act1[rng.choice(act1.shape[0], m, replace=False)]
        y = act2[rng.choice(act2.shape[0], m, replace=False)]
        values.append(mmd2_unbiased(x, y))
    return float(np.mean(values)), float(np.std(values))


kid = kid_from_activations
