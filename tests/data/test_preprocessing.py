"""BigGAN preprocessing against the NumPy reference."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (two logical CPU devices)
from tests.data import reference
from tfbiggan.data import preprocessing


def _random_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("shape, resolution", [
    ((10, 14, 3), 4),    # wide: crop columns 2..11, non-integer area factor 2.5
    ((15, 9, 3), 6),     # tall: crop rows 3..11, factor 1.5
    ((16, 16, 3), 8),    # square, factor 2
    ((6, 7, 3), 9),      # upscaling
])
def test_preprocess_matches_numpy_reference(shape, resolution):
    image = _random_image(shape)
    got = preprocessing.preprocess_image(tf.constant(image), resolution, allow_upscale=True)
    assert got.shape == (resolution, resolution, 3)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), reference.preprocess(image, resolution), atol=2e-6)


def test_center_crop_keeps_middle_of_long_edge():
    image = np.arange(4 * 7).reshape(4, 7, 1)
    got = preprocessing.center_crop_square(tf.constant(image)).numpy()
    np.testing.assert_array_equal(got, image[:, 1:5])
    tall = np.arange(9 * 4).reshape(9, 4, 1)
    got = preprocessing.center_crop_square(tf.constant(tall)).numpy()
    np.testing.assert_array_equal(got, tall[2:6])


def test_scaling_to_unit_range():
    values = np.array([0, 1, 127, 128, 254, 255], np.uint8)
    got = preprocessing.scale_to_unit_range(tf.constant(values)).numpy()
    np.testing.assert_allclose(got, values / 127.5 - 1.0, atol=1e-6)
    floats = np.array([0.0, 0.25, 1.0], np.float32)
    got = preprocessing.scale_to_unit_range(tf.constant(floats)).numpy()
    np.testing.assert_allclose(got, floats * 2 - 1, atol=1e-7)
    with pytest.raises(TypeError, match="integer or floating dtype, got string"):
        preprocessing.scale_to_unit_range(tf.constant(["a"]))


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_grey_and_alpha_images_become_rgb(channels):
    image = _random_image((12, 12, channels), seed=channels)
    got = preprocessing.preprocess_image(tf.constant(image), 6)
    np.testing.assert_allclose(got.numpy(), reference.preprocess(image, 6), atol=2e-6)
    if channels < 3:
        np.testing.assert_array_equal(got.numpy()[..., 0], got.numpy()[..., 2])


def test_to_rgb_with_channels_known_only_at_run_time():
    fn = tf.function(preprocessing.to_rgb,
                     input_signature=[tf.TensorSpec([None, None, None], tf.uint8)])
    for channels in (1, 3, 4):
        image = _random_image((3, 5, channels), seed=channels)
        np.testing.assert_array_equal(fn(tf.constant(image)).numpy(), reference.to_rgb(image))
    with pytest.raises(ValueError, match="1, 2, 3 or 4 channels, got 5"):
        preprocessing.to_rgb(tf.zeros([2, 2, 5]))


def test_too_small_image_fails_unless_upscaling_is_allowed():
    image = tf.constant(_random_image((6, 9, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the target resolution"):
        preprocessing.preprocess_image(image, 8)
    assert preprocessing.preprocess_image(image, 8, allow_upscale=True).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="positive integer, got 0"):
        preprocessing.preprocess_image(image, 0)


def test_random_flip_is_seeded_and_flips_left_right():
    image = _random_image((4, 5, 3)).astype(np.float32)
    outcomes = []
    for seed in range(16):
        seed_tensor = tf.constant([7, seed], tf.int64)
        first = preprocessing.random_flip(tf.constant(image), seed_tensor).numpy()
        second = preprocessing.random_flip(tf.constant(image), seed_tensor).numpy()
        np.testing.assert_array_equal(first, second)
        flipped = np.array_equal(first, image[:, ::-1])
        assert flipped or np.array_equal(first, image)
        outcomes.append(flipped)
    assert 0 < sum(outcomes) < len(outcomes)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
