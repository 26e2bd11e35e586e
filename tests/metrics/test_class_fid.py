"""Intra-FID equals the mean of FIDs computed class by class."""

import sys

import numpy as np
import pytest
import scipy.linalg

from tfbiggan import metrics


def _fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)


def test_matches_per_class_reference():
    rng = np.random.default_rng(0)
    real_y, fake_y = np.arange(90) % 3, rng.permutation(np.arange(75) % 3)
    real = rng.standard_normal((90, 4)) + real_y[:, None]
    fake = rng.standard_normal((75, 4)) * 1.2 + fake_y[:, None] * 0.8
    mean, per_class = metrics.intra_fid(real, real_y, fake, np.eye(3)[fake_y])  # One-hot fake.
    expected = {c: _fid(real[real_y == c], fake[fake_y == c]) for c in range(3)}
    assert sorted(per_class) == [0, 1, 2]
    for c in range(3):
        assert per_class[c] == pytest.approx(expected[c], rel=1e-6)
    assert mean == pytest.approx(np.mean(list(expected.values())), rel=1e-6)


def test_missing_class_is_reported():
    real_y = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="class 1"):
        metrics.intra_fid(np.zeros((4, 2)), real_y, np.zeros((3, 2)), np.array([0, 0, 1]))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
