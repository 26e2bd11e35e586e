"""Tests of the Progressive GAN layers against NumPy references and analytic cases."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (sets up two logical CPU devices)
from tests import layer_harness
from tfbiggan.layers.equalized import EqualizedConv, EqualizedDense
from tfbiggan.layers.fade_in import FadeIn
from tfbiggan.layers.minibatch_stddev import MinibatchStdDev
from tfbiggan.layers.pixel_norm import PixelNorm


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _numpy_conv_same(x, kernel):
    """Stride-1 'same' cross-correlation, NHWC input and [kh, kw, in, out] kernel."""
    kh, kw = kernel.shape[:2]
    ph, pw = kh // 2, kw // 2
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    n, h, w, _ = x.shape
    out = np.zeros((n, h, w, kernel.shape[-1]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", padded[:, i:i + h, j:j + w], kernel[i, j])
    return out


# --- EqualizedDense / EqualizedConv -------------------------------------------------------

@pytest.mark.parametrize("gain", [2.0, 0.5])
def test_equalized_dense_equals_plain_dense_with_scaled_weights(gain):
    layer = EqualizedDense(5, gain=gain)
    x = _randn(3, 7)
    layer.build(x.shape)
    layer.bias.assign(_randn(5, seed=1))
    kernel = np.asarray(layer.kernel)
    expected = x @ (kernel * np.sqrt(gain / 7)) + np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_equalized_dense_stores_unit_normal_kernel_and_zero_bias():
    layer = EqualizedDense(64)
    layer.build((None, 64))
    kernel = np.asarray(layer.kernel)
    assert abs(kernel.mean()) < 0.06 and abs(kernel.std() - 1.0) < 0.06
    np.testing.assert_array_equal(np.asarray(layer.bias), np.zeros(64))
    assert layer.scale == pytest.approx(np.sqrt(2.0 / 64))


def test_equalized_dense_output_variance_is_preserved():
    # He's constant keeps E[y²] = gain·E[x²] on average over kernels.
    layer = EqualizedDense(256, gain=1.0, use_bias=False)
    x = _randn(512, 128)
    y = np.asarray(layer(x))
    assert abs(np.mean(y ** 2) / np.mean(x ** 2) - 1.0) < 0.15


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_equalized_conv_matches_numpy(kernel_size):
    layer = EqualizedConv(4, kernel_size, gain=2.0)
    x = _randn(2, 5, 6, 3)
    layer.build(x.shape)
    layer.bias.assign(_randn(4, seed=2))
    kernel = np.asarray(layer.kernel) * np.sqrt(2.0 / (kernel_size ** 2 * 3))
    expected = _numpy_conv_same(x, kernel) + np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-4)


def test_equalized_layers_reject_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="units"):
        EqualizedDense(0)
    with pytest.raises(ValueError, match="gain"):
        EqualizedDense(3, gain=-1.0)
    with pytest.raises(ValueError, match="kernel_size"):
        EqualizedConv(3, kernel_size=2)
    with pytest.raises(ValueError, match="filters"):
        EqualizedConv(1.5)
    conv = EqualizedConv(2, 3)
    with pytest.raises(ValueError, match="rank 4"):
        conv(np.zeros((2, 4, 3), np.float32))
    conv(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="4, 4, 3|3\\]"):
        conv(np.zeros((1, 4, 4, 5), np.float32))
    dense = EqualizedDense(2)
    dense(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="3\\]"):
        dense(np.zeros((1, 4), np.float32))


def test_equalized_dense_harness():
    layer_harness.check_layer(lambda: EqualizedDense(6, gain=1.0), _randn(4, 5))


def test_equalized_conv_harness():
    layer_harness.check_layer(lambda: EqualizedConv(3, 3), _randn(4, 4, 4, 2))


# --- PixelNorm ----------------------------------------------------------------------------

def test_pixel_norm_matches_numpy_and_gives_unit_rms():
    x = _randn(2, 3, 3, 5) * 7.0
    out = np.asarray(PixelNorm()(x))
    expected = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.mean(out ** 2, axis=-1)), 1.0, rtol=1e-5)


def test_pixel_norm_epsilon_dominates_at_zero_and_axis_argument():
    out = np.asarray(PixelNorm(epsilon=1.0)(np.zeros((1, 4), np.float32) + 1.0))
    np.testing.assert_allclose(out, 1.0 / np.sqrt(2.0), rtol=1e-6)
    x = _randn(2, 4, 3)
    out = np.asarray(PixelNorm(axis=1)(x))
    np.testing.assert_allclose(np.mean(out ** 2, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="epsilon"):
        PixelNorm(epsilon=-1.0)
    with pytest.raises(ValueError, match="axis"):
        PixelNorm(axis=0)(x)


def test_pixel_norm_harness():
    layer_harness.check_layer(PixelNorm, _randn(4, 3, 3, 4))


# --- MinibatchStdDev ----------------------------------------------------------------------

def _numpy_mbstd(x, group_size, grouping="strided"):
    n = x.shape[0]
    g = min(group_size, n)
    m = n // g
    values = np.zeros(n)
    for k in range(m):
        # strided: example n is in group n mod M; contiguous: in group n // G.
        members = slice(k, None, m) if grouping == "strided" else slice(k * g, (k + 1) * g)
        std = np.sqrt(x[members].astype(np.float64).var(axis=0) + 1e-8)
        values[members] = std.mean()
    fmap = np.broadcast_to(values.reshape((n,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,))
    return np.concatenate([x, fmap], axis=-1)


@pytest.mark.parametrize("batch,group_size", [(8, 4), (4, 4), (2, 4), (6, 3), (5, 1)])
def test_minibatch_stddev_matches_numpy(batch, group_size):
    x = _randn(batch, 3, 3, 4)
    out = np.asarray(MinibatchStdDev(group_size)(x))
    assert out.shape == (batch, 3, 3, 5)
    np.testing.assert_allclose(out, _numpy_mbstd(x, group_size), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch,group_size", [(8, 4), (6, 3), (4, 4), (5, 1)])
def test_minibatch_stddev_contiguous_groups_match_numpy(batch, group_size):
    x = _randn(batch, 3, 3, 4)
    out = np.asarray(MinibatchStdDev(group_size, grouping="contiguous")(x))
    np.testing.assert_allclose(out, _numpy_mbstd(x, group_size, "contiguous"), rtol=1e-5,
                               atol=1e-6)
    if batch > group_size > 1:  # The two groupings differ.
        assert not np.allclose(out, _numpy_mbstd(x, group_size, "strided"))


def test_minibatch_stddev_contiguous_groups_see_a_collapsed_block():
    """[real; fake] with fake all one image: contiguous groups give the fakes 0 (the
    collapse shows), strided groups mix both halves and give every example the same mix."""
    real = _randn(4, 2, 2, 3)
    fake = np.repeat(_randn(1, 2, 2, 3), 4, axis=0)
    x = np.concatenate([real, fake])
    contiguous = np.asarray(MinibatchStdDev(4, epsilon=0.0, grouping="contiguous")(x))[..., 3]
    np.testing.assert_allclose(contiguous[4:], 0.0, atol=1e-6)
    assert contiguous[:4].min() > 0.3
    strided = np.asarray(MinibatchStdDev(4, epsilon=0.0)(x))[..., 3]
    assert strided[4:].min() > 0.3  # Each strided group holds two real and two fake.


def test_minibatch_stddev_analytic_pair_and_vectors():
    # Two examples a and b: biased std of every element is |a − b| / 2.
    x = np.stack([np.full((2, 2, 3), 1.0), np.full((2, 2, 3), 4.0)]).astype(np.float32)
    out = np.asarray(MinibatchStdDev(group_size=4, epsilon=0.0)(x))
    np.testing.assert_array_equal(out[..., :3], x)
    np.testing.assert_allclose(out[..., 3], 1.5, rtol=1e-6)
    v = _randn(4, 6)
    np.testing.assert_allclose(np.asarray(MinibatchStdDev(2)(v)), _numpy_mbstd(v, 2),
                               rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_rejects_indivisible_batch_and_bad_group():
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdDev(4)(_randn(6, 2, 2, 3))
    with pytest.raises(ValueError, match="group_size"):
        MinibatchStdDev(0)
    with pytest.raises(ValueError, match="grouping.*'blocks'"):
        MinibatchStdDev(4, grouping="blocks")


def test_minibatch_stddev_dynamic_batch_in_graph():
    layer = MinibatchStdDev(4)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, 2, 2, 3], tf.float32)])
    x = _randn(8, 2, 2, 3)
    np.testing.assert_allclose(np.asarray(fn(x)), _numpy_mbstd(x, 4), rtol=1e-5, atol=1e-6)
    layer = MinibatchStdDev(4, grouping="contiguous")
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, 2, 2, 3], tf.float32)])
    np.testing.assert_allclose(np.asarray(fn(x)), _numpy_mbstd(x, 4, "contiguous"), rtol=1e-5,
                               atol=1e-6)


def test_minibatch_stddev_harness():
    layer_harness.check_layer(lambda: MinibatchStdDev(2), _randn(4, 4, 4, 3))
    layer_harness.check_layer(lambda: MinibatchStdDev(2, grouping="contiguous"),
                              _randn(4, 4, 4, 3))


# --- FadeIn -------------------------------------------------------------------------------

def test_fade_in_blends_and_is_exact_at_the_ends():
    a, b = _randn(2, 4, 4, 3, seed=1), _randn(2, 4, 4, 3, seed=2)
    layer = FadeIn()
    np.testing.assert_array_equal(np.asarray(layer(a, b, alpha=0.0)), a)
    np.testing.assert_array_equal(np.asarray(layer(a, b, alpha=1.0)), b)
    np.testing.assert_allclose(np.asarray(layer(a, b, alpha=0.3)), 0.7 * a + 0.3 * b,
                               rtol=1e-6, atol=1e-6)
    alpha = tf.Variable(0.6)
    np.testing.assert_allclose(np.asarray(layer(a, b, alpha=alpha)), 0.4 * a + 0.6 * b,
                               rtol=1e-6, atol=1e-6)


def test_fade_in_rejects_bad_alpha_and_shapes():
    a = _randn(2, 4, 4, 3)
    with pytest.raises(ValueError, match="alpha"):
        FadeIn()(a, a, alpha=1.5)
    with pytest.raises(ValueError, match="same shape"):
        FadeIn()(a, a[:, :2], alpha=0.5)


def test_fade_in_harness():
    layer_harness.check_layer(FadeIn, [_randn(4, 4, 4, 3, seed=1), _randn(4, 4, 4, 3, seed=2)],
                              {"alpha": 0.25})


def test_layers_are_registered_under_tfbiggan():
    for cls in (EqualizedConv, EqualizedDense, PixelNorm, MinibatchStdDev, FadeIn):
        assert keras.saving.get_registered_name(cls) == f"tfbiggan>{cls.__name__}"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
