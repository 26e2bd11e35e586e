"""Sliced Wasserstein distance on Laplacian-pyramid patches."""

import sys

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats

from tfbiggan import metrics
from tfbiggan.metrics import swd


def _images(seed, n=24, size=32, channels=3):
    rng = np.random.default_rng(seed)
    smooth = scipy.ndimage.gaussian_filter(rng.standard_normal((n, size, size, channels)),
                                           sigma=(0, 2, 2, 0))
    return np.tanh(smooth * 4.0).astype(np.float32)


def _reconstruct(pyramid):
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + swd._pyramid_up(image, band.shape)
    return image


def test_laplacian_pyramid_is_invertible_and_halves():
    images = _images(0, n=3)
    pyramid = swd.laplacian_pyramid(images, 3)
    assert [level.shape[1] for level in pyramid] == [32, 16, 8]
    np.testing.assert_allclose(_reconstruct(pyramid), images, atol=1e-5)


def test_blur_is_the_mirror_binomial_filter():
    image = np.random.default_rng(1).standard_normal((1, 9, 9, 1)).astype(np.float32)
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
    padded = np.pad(image[0, :, :, 0], 2, mode="reflect")  # Mirror without edge repeat.
    expected = np.array([[np.sum(padded[i:i + 5, j:j + 5] * kernel) for j in range(9)]
                         for i in range(9)])
    np.testing.assert_allclose(swd._blur(image)[0, :, :, 0], expected, atol=1e-6)


def test_one_dimensional_case_is_the_wasserstein_distance():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((200, 1)).astype(np.float32)
    b = (rng.standard_normal((200, 1)) * 2 + 1).astype(np.float32)
    # In one dimension every unit direction is ±1, and W1 is symmetric under negation.
    value = swd.sliced_wasserstein_1d(a, b, np.random.default_rng(0), 2, 3)
    assert value == pytest.approx(scipy.stats.wasserstein_distance(a[:, 0], b[:, 0]), rel=1e-5)


def test_identical_sets_give_zero_and_distance_grows_with_a_shift():
    real = _images(3)
    noise = np.random.default_rng(4).standard_normal(real.shape).astype(np.float32)
    kwargs = dict(patches_per_image=32, dir_repeats=2, dirs_per_repeat=32, seed=5)
    per_level, average = metrics.sliced_wasserstein(real, real.copy(), **kwargs)
    assert len(per_level) == 2  # 32×32 and 16×16.
    assert average == 0.0
    averages = [metrics.sliced_wasserstein(real, np.clip(real + s * noise, -1, 1), **kwargs)[1]
                for s in (0.05, 0.2, 0.6)]
    assert 0.0 < averages[0] < averages[1] < averages[2]
    other = metrics.sliced_wasserstein(real, _images(6), **kwargs)[1]
    assert other > 0.0


def test_levels_follow_min_resolution_and_grey_images_work():
    real, fake = _images(7, n=6, channels=1), _images(8, n=6, channels=1)
    per_level, average = metrics.sliced_wasserstein(real, fake, min_resolution=8,
                                                    patches_per_image=8, dirs_per_repeat=8)
    assert len(per_level) == 3
    assert average == pytest.approx(np.mean(per_level))


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        metrics.sliced_wasserstein(np.zeros((2, 16, 16, 3)), np.zeros((3, 16, 16, 3)))
    with pytest.raises(ValueError, match="min_resolution"):
        metrics.sliced_wasserstein(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="patch_size"):
        metrics.sliced_wasserstein(np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 16, 3)),
                                   min_resolution=4)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
