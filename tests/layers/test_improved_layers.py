"""Tests of the Improved-Techniques layers: minibatch discrimination, virtual batch norm."""

import os
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (sets up two logical CPU devices)
from tests import layer_harness
from tfbiggan.layers.minibatch_discrimination import MinibatchDiscrimination
from tfbiggan.layers.virtual_batch_norm import VirtualBatchNorm


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- MinibatchDiscrimination --------------------------------------------------------------

def _numpy_minibatch_discrimination(x, t, include_self):
    x, t = x.astype(np.float64), t.astype(np.float64)
    n, _ = x.shape
    m = np.einsum("na,abc->nbc", x, t)
    o = np.zeros((n, t.shape[1]))
    for i in range(n):
        for j in range(n):
            if i == j and not include_self:
                continue
            o[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
    return np.concatenate([x, o], axis=-1)


@pytest.mark.parametrize("include_self", [False, True])
def test_minibatch_discrimination_matches_numpy(include_self):
    x = _randn(5, 6) * 0.3
    layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3, include_self=include_self,
                                    kernel_initializer=keras.initializers.RandomNormal(0., .3))
    out = np.asarray(layer(x))
    assert out.shape == (5, 10)
    expected = _numpy_minibatch_discrimination(x, np.asarray(layer.kernel), include_self)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_minibatch_discrimination_analytic_identical_examples():
    # N identical examples: every distance is 0, so o_b = N − 1 without self and N with it.
    x = np.tile(_randn(1, 4), (3, 1))
    np.testing.assert_allclose(np.asarray(MinibatchDiscrimination(2, 5)(x))[:, 4:], 2.0)
    np.testing.assert_allclose(
        np.asarray(MinibatchDiscrimination(2, 5, include_self=True)(x))[:, 4:], 3.0)


def test_minibatch_discrimination_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="num_kernels"):
        MinibatchDiscrimination(0, 3)
    with pytest.raises(ValueError, match="include_self"):
        MinibatchDiscrimination(2, 3, include_self="yes")
    with pytest.raises(ValueError, match="kernel_initializer"):
        MinibatchDiscrimination(2, 3, kernel_initializer="no_such_initializer")
    layer = MinibatchDiscrimination(2, 3)
    with pytest.raises(ValueError, match=r"\[N, features\]"):
        layer(np.zeros((2, 3, 3), np.float32))
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        layer(np.zeros((2, 4), np.float32))


def test_minibatch_discrimination_harness():
    layer_harness.check_layer(lambda: MinibatchDiscrimination(3, 2), _randn(4, 5))


# --- VirtualBatchNorm ---------------------------------------------------------------------

def _numpy_vbn(x, reference, gamma, beta, epsilon):
    """Direct definition: each example normalised with moments of reference ∪ {itself}."""
    x, reference = x.astype(np.float64), reference.astype(np.float64)
    n = reference.shape[0]
    axes = tuple(range(reference.ndim - 1))
    ref_m1, ref_m2 = reference.mean(axis=axes), (reference ** 2).mean(axis=axes)
    out = np.zeros_like(x)
    for i, example in enumerate(x):
        own_axes = tuple(range(example.ndim - 1))
        own_m1 = example.mean(axis=own_axes) if own_axes else example
        own_m2 = (example ** 2).mean(axis=own_axes) if own_axes else example ** 2
        mean = (n * ref_m1 + own_m1) / (n + 1)
        var = (n * ref_m2 + own_m2) / (n + 1) - mean ** 2
        out[i] = gamma * (example - mean) / np.sqrt(var + epsilon) + beta
    return out


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 3, 2)])
def test_virtual_batch_norm_matches_numpy(shape):
    reference = _randn(*shape, seed=1) * 2.0 + 1.0
    batch = _randn(*shape, seed=2)
    layer = VirtualBatchNorm(epsilon=1e-3)
    layer.build(shape)
    gamma, beta = _randn(shape[-1], seed=3), _randn(shape[-1], seed=4)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    first = np.asarray(layer(reference, training=True))
    np.testing.assert_allclose(first, _numpy_vbn(reference, reference, gamma, beta, 1e-3),
                               rtol=1e-4, atol=1e-4)
    second = np.asarray(layer(batch, training=True))
    np.testing.assert_allclose(second, _numpy_vbn(batch, reference, gamma, beta, 1e-3),
                               rtol=1e-4, atol=1e-4)


def test_virtual_batch_norm_example_output_does_not_depend_on_its_batch():
    layer = VirtualBatchNorm()
    layer(_randn(8, 4, 4, 3, seed=1), training=True)  # fixes the reference batch
    example = _randn(1, 4, 4, 3, seed=2)
    batch_a = np.concatenate([example, _randn(3, 4, 4, 3, seed=3)])
    batch_b = np.concatenate([_randn(5, 4, 4, 3, seed=4) * 10.0, example])
    out_a = np.asarray(layer(batch_a, training=True))[0]
    out_b = np.asarray(layer(batch_b, training=True))[-1]
    out_alone = np.asarray(layer(example, training=False))[0]
    np.testing.assert_allclose(out_a, out_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_a, out_alone, rtol=1e-5, atol=1e-5)


def test_virtual_batch_norm_reference_is_fixed_stored_and_resettable():
    reference = _randn(5, 3, seed=1) + 3.0
    layer = VirtualBatchNorm()
    layer(reference)
    layer(_randn(7, 3, seed=2) - 9.0)
    np.testing.assert_allclose(np.asarray(layer.reference_mean), reference.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.reference_variance), reference.var(0),
                               rtol=1e-4)
    assert float(layer.reference_size) == 5.0
    assert all(not w.trainable for w in (layer.reference_mean, layer.reference_variance,
                                         layer.reference_size))
    layer.reset_reference()
    other = _randn(2, 3, seed=5)
    layer(other)
    np.testing.assert_allclose(np.asarray(layer.reference_mean), other.mean(0), rtol=1e-5)
    assert float(layer.reference_size) == 2.0


def test_virtual_batch_norm_reference_survives_keras_save_load():
    inputs = keras.Input((3,))
    layer = VirtualBatchNorm()
    model = keras.Model(inputs, layer(inputs))
    reference = _randn(6, 3, seed=1) * 4.0
    model(reference)
    probe = _randn(2, 3, seed=2)
    expected = np.asarray(model(probe))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vbn.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded(probe)), expected, rtol=1e-6, atol=1e-6)


def test_virtual_batch_norm_under_xla_uses_the_stored_reference():
    layer = VirtualBatchNorm()
    reference = _randn(4, 2, 2, 3, seed=1)
    layer(reference)
    batch = _randn(2, 2, 2, 3, seed=2)
    compiled = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    expected = _numpy_vbn(batch, reference, 1.0, 0.0, 1e-5)
    np.testing.assert_allclose(np.asarray(compiled(batch)), expected, rtol=1e-4, atol=1e-4)


def test_virtual_batch_norm_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="epsilon"):
        VirtualBatchNorm(epsilon=0.0)
    with pytest.raises(ValueError, match="center"):
        VirtualBatchNorm(center=1)
    layer = VirtualBatchNorm()
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[N, \.\.\., 3\]"):
        layer(np.zeros((2, 4), np.float32))


def test_virtual_batch_norm_harness():
    layer_harness.check_layer(VirtualBatchNorm, _randn(4, 3, 3, 2))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
