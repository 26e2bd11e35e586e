"""Improved precision/recall against a brute-force NumPy/SciPy implementation."""

import sys

import numpy as np
import pytest
import scipy.spatial

from tfbiggan import metrics
from tfbiggan.metrics import manifold


def _brute_force(real, fake, k):
    def radii(x):
        d = scipy.spatial.distance.cdist(x, x)
        return np.sort(d, axis=1)[:, k]  # Column 0 is the point itself.

    r_real, r_fake = radii(real), radii(fake)
    d = scipy.spatial.distance.cdist(fake, real)  # [fake, real]
    precision = np.mean([np.any(d[i] <= r_real) for i in range(len(fake))])
    recall = np.mean([np.any(d[:, j] <= r_fake) for j in range(len(real))])
    return precision, recall


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force(k):
    rng = np.random.default_rng(k)
    real = rng.standard_normal((120, 10))
    fake = rng.standard_normal((90, 10)) * 0.7 + 0.4  # Narrower: high precision, low recall.
    precision, recall = metrics.precision_recall(real, fake, k=k)
    expected = _brute_force(real, fake, k)
    assert (precision, recall) == pytest.approx(expected, abs=1e-12)


def test_blocked_distances_match(monkeypatch):
    monkeypatch.setattr(manifold, "_BLOCK_ELEMENTS", 50)  # Many small distance blocks.
    rng = np.random.default_rng(9)
    real, fake = rng.standard_normal((40, 3)), rng.standard_normal((30, 3)) + 0.5
    assert metrics.precision_recall(real, fake) == pytest.approx(
        _brute_force(real, fake, 3), abs=1e-12)


def test_analytic_cases():
    real = np.random.default_rng(0).standard_normal((50, 4))
    assert metrics.precision_recall(real, real.copy()) == (1.0, 1.0)
    assert metrics.precision_recall(real, real + 100.0) == (0.0, 0.0)
    # A fake set collapsed onto one real sample: every fake is inside the real manifold.
    collapsed = np.repeat(real[:1], 10, axis=0)
    precision, recall = metrics.precision_recall(real, collapsed)
    assert precision == 1.0
    # The collapsed set's radii are 0, so only real points equal to real[0] are covered.
    assert recall == pytest.approx(1 / 50)


def test_errors():
    with pytest.raises(ValueError, match="more than k=3"):
        metrics.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="dimension"):
        metrics.precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))


def _density_coverage_reference(real, fake, k):
    """Naeem et al. 2020, Eqs. (3)-(4), written out with SciPy distances."""
    radii = np.sort(scipy.spatial.distance.cdist(real, real), axis=1)[:, k]
    d = scipy.spatial.distance.cdist(real, fake)  # [real, fake]
    density = sum(np.sum(d[:, j] <= radii) for j in range(len(fake))) / (k * len(fake))
    coverage = np.mean([np.any(d[i] <= radii[i]) for i in range(len(real))])
    return density, coverage


@pytest.mark.parametrize("k", [1, 5])
def test_density_coverage_match_the_paper_formulas(k):
    rng = np.random.default_rng(20 + k)
    real = rng.standard_normal((110, 6))
    fake = rng.standard_normal((70, 6)) * 0.5 + 0.3
    assert metrics.density_coverage(real, fake, k=k) == pytest.approx(
        _density_coverage_reference(real, fake, k), abs=1e-12)


def test_density_coverage_blocked_distances_match(monkeypatch):
    monkeypatch.setattr(manifold, "_BLOCK_ELEMENTS", 37)
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((45, 4)), rng.standard_normal((33, 4))
    assert metrics.density_coverage(real, fake) == pytest.approx(
        _density_coverage_reference(real, fake, 5), abs=1e-12)


def test_density_coverage_sanity_cases():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((2000, 8))
    # Identical distributions (two independent draws): density ≈ 1, coverage ≈ 1 − 2^-k.
    density, coverage = metrics.density_coverage(real, rng.standard_normal((2000, 8)), k=5)
    assert density == pytest.approx(1.0, abs=0.08)
    assert coverage == pytest.approx(1.0 - 2.0 ** -5, abs=0.03)
    # The same samples: every real ball holds its own centre.
    assert metrics.density_coverage(real, real, k=5)[1] == 1.0
    # Disjoint distributions: no fake sample in any real ball.
    assert metrics.density_coverage(real, rng.standard_normal((500, 8)) + 50.0) == (0.0, 0.0)
    # A collapsed generator (one point near the mode) covers almost nothing, however dense.
    density, coverage = metrics.density_coverage(real, np.zeros((500, 8)) + 1e-3)
    assert density > 1.0 and coverage < 0.01


def test_density_coverage_reject_bad_input():
    with pytest.raises(ValueError, match="same dimension"):
        metrics.density_coverage(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="more than k=5 samples"):
        metrics.density_coverage(np.zeros((5, 3)), np.zeros((10, 3)))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
