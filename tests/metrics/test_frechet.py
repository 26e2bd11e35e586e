"""FID against a `scipy.linalg.sqrtm` reference and analytic cases."""

import sys

import numpy as np
import pytest
import scipy.linalg

from tfbiggan import metrics
from tfbiggan.metrics import frechet


def _sqrtm_fid(mu1, sigma1, mu2, sigma2):
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)


def _stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


def test_matches_sqrtm_on_random_data():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 48))
    b = rng.standard_normal((300, 48)) @ rng.standard_normal((48, 48)) * 0.3 + 0.5
    expected = _sqrtm_fid(*_stats(a), *_stats(b))
    np.testing.assert_allclose(metrics.frechet_distance(*_stats(a), *_stats(b)), expected,
                               rtol=1e-6)
    np.testing.assert_allclose(metrics.fid_from_activations(a, b, batch_size=64), expected,
                               rtol=1e-6)


def test_matches_sqrtm_for_rank_deficient_covariance():
    # Fewer samples than dimensions: both covariances are singular.
    rng = np.random.default_rng(1)
    a = rng.standard_normal((30, 64))
    b = rng.standard_normal((40, 64)) * 2.0
    expected = _sqrtm_fid(*_stats(a), *_stats(b))
    np.testing.assert_allclose(metrics.fid_from_activations(a, b), expected, rtol=1e-6)


def test_matches_sqrtm_for_ill_conditioned_covariances():
    rng = np.random.default_rng(2)
    dim = 32
    q1, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    q2, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    sigma1 = (q1 * np.logspace(-12, 0, dim)) @ q1.T
    sigma2 = (q2 * np.logspace(-10, 1, dim)) @ q2.T
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    np.testing.assert_allclose(metrics.frechet_distance(mu1, sigma1, mu2, sigma2),
                               _sqrtm_fid(mu1, sigma1, mu2, sigma2), rtol=1e-6)


def test_diagonal_covariances_analytic():
    # Commuting covariances: Tr((Σ1Σ2)^½) = Σ sqrt(a_i b_i), so FID = ‖Δμ‖² + Σ (√a − √b)².
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 9.0
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


def test_identical_sets_give_zero_and_tensor_inputs_work():
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(3).standard_normal((200, 16)).astype(np.float32)
    assert metrics.fid_from_activations(tf.constant(x), x) == pytest.approx(0.0, abs=1e-9)


def test_trace_sqrt_product_clips_negative_rounding():
    # A PSD matrix with eigenvalues pushed slightly negative by rounding stays real.
    v = np.random.default_rng(4).standard_normal((8, 3))
    sigma = v @ v.T - 1e-14 * np.eye(8)
    value = frechet.trace_sqrt_product(sigma, sigma)
    np.testing.assert_allclose(value, np.trace(v @ v.T), rtol=1e-6)


def test_reference_statistics_file(tmp_path):
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((100, 6)), rng.standard_normal((80, 6)) + 1.0
    path = tmp_path / "ref.npz"
    metrics.save_statistics(path, *_stats(real))
    assert metrics.fid_from_statistics_and_activations(path, fake) == pytest.approx(
        metrics.fid_from_activations(real, fake), rel=1e-12)


@pytest.mark.parametrize("args, message", [
    ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), "mu2"),
    ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), "sigma1"),
    ((np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3)), "mu1"),
    ((np.full(3, np.nan), np.eye(3), np.zeros(3), np.eye(3)), "non-finite"),
])
def test_bad_inputs_are_rejected(args, message):
    with pytest.raises(ValueError, match=message):
        metrics.frechet_distance(*args)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
