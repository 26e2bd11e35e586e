"""KID against an independent NumPy implementation of the unbiased MMD² estimator."""

import sys

import numpy as np
import pytest

from tfbiggan import metrics


def _mmd2_loops(x, y):
    d = x.shape[1]

    def k(a, b):
        return (np.dot(a, b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def test_full_sets_match_loop_formula():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((25, 6)), rng.standard_normal((25, 6)) * 1.5 + 0.3
    # One subset of the whole set is a permutation, to which MMD² is invariant.
    mean, std = metrics.kid_from_activations(x, y, num_subsets=1, subset_size=25)
    assert mean == pytest.approx(_mmd2_loops(x, y), rel=1e-10)
    assert std == 0.0


def test_subsets_follow_documented_sampling():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((30, 5)) + 0.5
    mean, std = metrics.kid_from_activations(x, y, num_subsets=4, subset_size=12, seed=7)
    sampler = np.random.default_rng(7)
    values = []
    for _ in range(4):
        xs = x[sampler.choice(40, 12, replace=False)]
        ys = y[sampler.choice(30, 12, replace=False)]
        values.append(_mmd2_loops(xs, ys))
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_same_distribution_is_near_zero_and_shift_is_positive():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    same, same_std = metrics.kid_from_activations(a, b, num_subsets=20, subset_size=100)
    shifted, _ = metrics.kid_from_activations(a, b + 1.0, num_subsets=20, subset_size=100)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 0.1 > abs(same)


def test_errors():
    with pytest.raises(ValueError, match="feature dimension"):
        metrics.kid_from_activations(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="subset_size"):
        metrics.kid_from_activations(np.zeros((5, 2)), np.zeros((5, 2)), subset_size=1)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
