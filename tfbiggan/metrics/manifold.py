"""Precision/recall and density/coverage from k-nearest-neighbour balls.

Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
Models" (arXiv 1904.06991): each sample of a set spans a ball whose radius is the distance to
its k-th nearest neighbour within that set; the set's manifold is the union of the balls.
Precision = fraction of fake samples inside the real manifold; recall = fraction of real
samples inside the fake manifold.

Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models" (arXiv
2002.09797) use the real balls only: density counts how many real balls contain each fake
sample (≈ 1 for identical distributions, above 1 where fakes crowd into dense real regions),
coverage is the fraction of real balls that contain at least one fake sample. Unlike recall,
neither depends on balls around the fake samples, so a collapsed generator cannot cover the
data with a few samples whose balls are inflated by outliers.
"""

import numpy as np

from tfbiggan.metrics import _arrays

_BLOCK_ELEMENTS = 1 << 24  # Distance-block size (entries) bounding the memory used.


def _squared_distance_blocks(a, b):
    """Yields (start, squared distances [rows, len(b)]) from blocks of rows of `a`."""
    b_norms = np.sum(b * b, axis=1)
    rows = max(1, _BLOCK_ELEMENTS // max(1, b.shape[0]))
    for start in range(0, a.shape[0], rows):
        block = a[start:start + rows]
        d2 = np.sum(block * block, axis=1)[:, None] + b_norms[None, :] - 2.0 * (block @ b.T)
        yield start, np.maximum(d2, 0.0)


def _knn_radii_squared(features, k):
    """Squared distance of each row to its k-th nearest other row."""
    radii = np.empty(features.shape[0])
    for start, d2 in _squared_distance_blocks(features, features):
        rows = np.arange(d2.shape[0])
        d2[rows, start + rows] = 0.0  # Exact zero for the sample itself despite rounding.
        # Index k of the partition: index 0 is the sample itself.
        radii[start:start + d2.shape[0]] = np.partition(d2, k, axis=1)[:, k]
    return radii


def _check_sets(real_features, fake_features, k):
    real = _arrays.as_float64(real_features, "real_features", ndim=2)
    fake = _arrays.as_float64(fake_features, "fake_features", ndim=2)
    k = _arrays.check_positive_int(k, "k")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"`real_features` and `fake_features` must have the same dimension, got "
            f"{real.shape[1]} and {fake.shape[1]}.")
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(
            f"each set needs more than k={k} samples, got {real.shape[0]} real and "
            f"{fake.shape[0]} fake.")
    return real, fake, k


def _fraction_inside(queries, support, support_radii2):
    """Fraction of query rows within the radius of at least one support row."""
    inside = 0
    for _, d2 in _squared_distance_blocks(queries, support):
        inside += int(np.count_nonzero(np.any(d2 <= support_radii2[None, :], axis=1)))
    return inside / queries.shape[0]


def precision_recall(real_features, fake_features, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Distances are Euclidean, computed in float64; a point on a ball's boundary counts as inside.

    Args:
      real_features: features [N_real, d] (e.g. Inception pool3 or a VGG embedding).
      fake_features: features [N_fake, d].
      k: neighbourhood size (the paper uses 3); each set needs more than k samples.

    Returns:
      (precision, recall) as Python floats in [0, 1].

    Example:
      >>> precision, recall = precision_recall(real_features, fake_features, k=3)

    Reference: Kynkäänniemi et al. 2019 (arXiv 1904.06991).
    """
    real, fake, k = _check_sets(real_features, fake_features, k)
    real_radii2 = _knn_radii_squared(real, k)
    fake_radii2 = _knn_radii_squared(fake, k)
    precision = _fraction_inside(fake, real, real_radii2)
    recall = _fraction_inside(real, fake, fake_radii2)
    return float(precision), float(recall)


def density_coverage(real_features, fake_features, k=5):
    """Density and coverage (Naeem et al. 2020).

    With B(x, r) the ball of radius r around x and NND_k(x) the distance from a real sample x
    to its k-th nearest other real sample: density = 1/(kM) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_k(X_i))]
    and coverage = 1/N Σ_i 1[∃ j: Y_j ∈ B(X_i, NND_k(X_i))], for N real features X and M fake
    features Y. Distances are Euclidean in float64; a point on a boundary counts as inside.

    Args:
      real_features: features [N, d].
      fake_features: features [M, d].
      k: neighbourhood size (the paper uses 5); each set needs more than k samples.

    Returns:
      (density, coverage) as Python floats; density ≥ 0 (≈ 1 for identical distributions,
      may exceed 1), coverage in [0, 1].

    Example:
      >>> density, coverage = density_coverage(real_features, fake_features, k=5)

    Reference: Naeem et al. 2020 (arXiv 2002.09797).
    """
    real, fake, k = _check_sets(real_features, fake_features, k)
    real_radii2 = _knn_radii_squared(real, k)
    contained = 0
    covered = np.zeros(real.shape[0], dtype=bool)
    for _, d2 in _squared_distance_blocks(fake, real):
        inside = d2 <= real_radii2[None, :]
        contained += int(np.count_nonzero(inside))
        covered |= np.any(inside, axis=0)
    return float(contained / (k * fake.shape[0])), float(np.mean(covered))
