"""Tests of the SAGAN self-attention block against a NumPy reference."""

import sys

import keras
import numpy as np
import pytest

from tests import conftest  # noqa: F401  (sets up two logical CPU devices)
from tests import layer_harness
from tests.layers.test_spectral_norm import (BASE_CONFIG_KEYS, constructor_keys,
                                             np_sn_kernel_of, randn)
from tfbiggan.layers.attention import SelfAttention


def np_max_pool_2x2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def np_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(-1, keepdims=True)


def np_self_attention(x, layer):
    """x + γ·o(softmax(θ φᵀ) g) with the SN-normalised 1×1 kernels the layer uses at inference."""
    x = np.asarray(x, np.float64)
    b, h, w, c = x.shape

    def conv1x1(inputs, conv):
        return np.einsum("bhwc,co->bhwo", inputs, np_sn_kernel_of(conv)[0, 0])

    theta = conv1x1(x, layer.theta).reshape(b, h * w, c // 8)
    phi = np_max_pool_2x2(conv1x1(x, layer.phi)).reshape(b, h * w // 4, c // 8)
    g = np_max_pool_2x2(conv1x1(x, layer.g)).reshape(b, h * w // 4, c // 2)
    beta = np_softmax(theta @ phi.transpose(0, 2, 1))  # over the pooled positions
    attended = (beta @ g).reshape(b, h, w, c // 2)
    return x + float(layer.gamma.numpy()) * conv1x1(attended, layer.o)


def _randomize(layer, seed=0):
    for index, conv in enumerate((layer.theta, layer.phi, layer.g, layer.o)):
        conv.kernel.assign(randn(*conv.kernel.shape, seed=seed + index))


def test_harness():
    layer_harness.check_layer(lambda: SelfAttention(), randn(2, 4, 6, 8))


def test_get_config_keys_are_constructor_arguments():
    assert set(SelfAttention().get_config()) == constructor_keys(SelfAttention) | \
        BASE_CONFIG_KEYS


@pytest.mark.parametrize("training", [False, True])
def test_identity_at_gamma_zero(training):
    layer = SelfAttention()
    x = randn(2, 4, 6, 16, seed=1)
    layer.build(x.shape)
    _randomize(layer, seed=2)
    assert float(layer.gamma.numpy()) == 0.0  # initialised to zero
    np.testing.assert_array_equal(layer(x, training=training).numpy(), x)


@pytest.mark.parametrize("shape,gamma", [((2, 4, 6, 16), 0.7), ((1, 6, 2, 8), -1.3)])
def test_matches_numpy_reference(shape, gamma):
    layer = SelfAttention(sn_epsilon=1e-6)
    x = randn(*shape, seed=3)
    layer.build(x.shape)
    _randomize(layer, seed=4)
    layer.gamma.assign(gamma)
    expected = np_self_attention(x, layer)
    assert np.abs(expected - x).max() > 0.1  # the branch contributes
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


def test_in_sequential_and_functional_models():
    layer = SelfAttention()
    model = keras.Sequential([keras.Input((4, 4, 8)), layer])
    _randomize(layer, seed=5)
    layer.gamma.assign(0.5)
    x = randn(3, 4, 4, 8, seed=6)
    np.testing.assert_allclose(model(x).numpy(), np_self_attention(x, layer), rtol=1e-4,
                               atol=1e-4)

    inputs = keras.Input((4, 4, 8))
    attention = SelfAttention()
    functional = keras.Model(inputs, keras.layers.ReLU()(attention(inputs)))
    _randomize(attention, seed=7)
    attention.gamma.assign(-0.4)
    np.testing.assert_allclose(functional(x).numpy(),
                               np.maximum(np_self_attention(x, attention), 0.0), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("make,pattern", [
    (lambda: SelfAttention(num_power_iterations=0), r"`num_power_iterations`.*got 0"),
    (lambda: SelfAttention(sn_epsilon=-1.0), r"`sn_epsilon`.*-1\.0"),
    (lambda: SelfAttention(num_power_iterations=True), r"`num_power_iterations`.*True"),
])
def test_bad_constructor_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"SelfAttention.*rank 4"):
        SelfAttention()(randn(2, 4, 8))
    with pytest.raises(ValueError, match=r"divisible by 8.*\(2, 4, 4, 12\)"):
        SelfAttention()(randn(2, 4, 4, 12))
    with pytest.raises(ValueError, match=r"even height and width.*\(2, 3, 4, 8\)"):
        SelfAttention()(randn(2, 3, 4, 8))
    layer = SelfAttention()
    layer(randn(1, 4, 4, 8))
    with pytest.raises(ValueError, match=r"last dimension 8"):
        layer(randn(1, 4, 4, 16))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
