"""MS-SSIM: identical images score 1; one scale equals an independent NumPy SSIM."""

import sys

import numpy as np
import pytest
import scipy.signal

from tfbiggan import metrics
from tfbiggan.metrics import multiscale_ssim


def _numpy_ssim(a, b, size=11, sigma=1.5):
    """SSIM of [H, W, C] images in [0, 1]: Gaussian window, valid positions, mean over all."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-coords ** 2 / (2 * sigma ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        f = lambda z: scipy.signal.correlate2d(z, window, mode="valid")  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
        ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)
                    / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
        values.append(ssim_map.mean())
    return np.mean(values)


def _images(seed, n=4, size=32):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


def test_identical_images_score_one():
    images = _images(0)
    assert metrics.ms_ssim(images, images) == pytest.approx(1.0, abs=1e-6)


def test_single_scale_matches_numpy_ssim():
    a = _images(1, n=3, size=24)
    b = np.clip(a + np.random.default_rng(2).normal(0, 0.3, a.shape), -1, 1).astype(np.float32)
    value = metrics.ms_ssim(a, b, power_factors=(1.0,))
    expected = np.mean([_numpy_ssim((x + 1) / 2, (y + 1) / 2) for x, y in zip(a, b)])
    assert value == pytest.approx(expected, abs=1e-5)


def test_small_images_use_fewer_scales():
    assert len(multiscale_ssim.default_power_factors(32)) == 2
    assert len(multiscale_ssim.default_power_factors(176)) == 5
    factors = multiscale_ssim.default_power_factors(64)
    assert len(factors) == 3 and sum(factors) == pytest.approx(1.0)
    a, b = _images(3), _images(4)
    value = metrics.ms_ssim(a, b)  # 32×32 works with the default window.
    assert 0.0 <= value < 0.5
    tiny = _images(5, size=8)  # Smaller than the window: window shrinks to the image.
    assert metrics.ms_ssim(tiny, tiny) == pytest.approx(1.0, abs=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="power_factors"):
        metrics.ms_ssim(_images(0), _images(0), power_factors=(0.5, 0.3, 0.2))
    with pytest.raises(ValueError, match="same shape"):
        metrics.ms_ssim(_images(0, n=2), _images(0, n=3))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
