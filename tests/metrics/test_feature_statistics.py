"""Streaming statistics equal the one-shot NumPy results; `.npz` caching round trip."""

import sys

import numpy as np
import pytest

from tfbiggan import metrics


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(0)
    # A large common offset makes naive sum-of-squares accumulation lose precision.
    x = rng.standard_normal((1000, 12)) * np.linspace(0.1, 3.0, 12) + 1e4
    stats = metrics.RunningStatistics()
    for batch in np.array_split(x, [1, 7, 300, 301, 650]):  # Uneven, including size 1.
        stats.update(batch)
    assert stats.count == 1000
    np.testing.assert_allclose(stats.mean, np.mean(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)


def test_float32_batches_are_accumulated_in_float64():
    x = np.random.default_rng(1).standard_normal((500, 5)).astype(np.float32)
    stats = metrics.RunningStatistics(5)
    for batch in np.array_split(x, 9):
        stats.update(batch)
    expected = np.cov(x.astype(np.float64), rowvar=False)
    assert stats.covariance.dtype == np.float64
    np.testing.assert_allclose(stats.covariance, expected, rtol=1e-12, atol=1e-14)


def test_merge_equals_single_accumulator():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((70, 4)) * 2 + 3
    merged = metrics.RunningStatistics().update(a).merge(metrics.RunningStatistics().update(b))
    both = np.concatenate([a, b])
    np.testing.assert_allclose(merged.mean, both.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(merged.covariance, np.cov(both, rowvar=False), rtol=1e-10)


def test_compute_statistics_batches():
    x = np.random.default_rng(3).standard_normal((103, 7))
    mu, sigma = metrics.compute_statistics(x, batch_size=10)
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-10)


def test_errors():
    stats = metrics.RunningStatistics(3)
    with pytest.raises(ValueError, match="no activations"):
        _ = stats.mean
    stats.update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        _ = stats.covariance
    with pytest.raises(ValueError, match="expected 3"):
        stats.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="dim"):
        metrics.RunningStatistics(0)


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    mu, sigma = rng.standard_normal(5), np.cov(rng.standard_normal((20, 5)), rowvar=False)
    path = tmp_path / "sub" / "stats.npz"
    metrics.save_statistics(path, mu, sigma)
    assert path.is_file()  # Saved under the exact name (no second `.npz` appended).
    loaded_mu, loaded_sigma = metrics.load_statistics(path)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)


def test_load_refuses_pickles_and_reports_missing_arrays(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1))
    with pytest.raises(ValueError, match="allow_pickle"):
        metrics.load_statistics(pickled)
    partial = tmp_path / "partial.npz"
    np.savez(partial, mu=np.zeros(2))
    with pytest.raises(ValueError, match="sigma"):
        metrics.load_statistics(partial)
    with pytest.raises(FileNotFoundError):
        metrics.load_statistics(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match="sigma"):
        metrics.save_statistics(tmp_path / "bad.npz", np.zeros(3), np.eye(2))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
