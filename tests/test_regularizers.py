"""Tests for tfbiggan.regularizers against NumPy computations and analytic gradients."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tfbiggan import losses
from tfbiggan import regularizers
from tfbiggan.regularizers import HistoricalAveraging, OrthogonalRegularizer

RNG = np.random.default_rng(1)


def _np_ortho(kernel, beta):
    w = np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1])  # [rest, out]
    gram = w.T @ w
    return beta * np.sum((gram * (1.0 - np.eye(gram.shape[0]))) ** 2)


@pytest.mark.parametrize("shape", [[3, 3, 4, 8], [5, 7], [12, 3]])
def test_orthogonal_matches_numpy(shape):
    kernel = RNG.normal(size=shape).astype(np.float32)
    got = OrthogonalRegularizer(beta=1e-3)(tf.constant(kernel))
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), _np_ortho(kernel, 1e-3), rtol=1e-5)


def test_orthogonal_zero_for_orthogonal_filters():
    q, _ = np.linalg.qr(RNG.normal(size=[3 * 3 * 4, 8]))
    # Orthogonal filters of unequal norms: the diagonal is not penalised.
    kernel = (q * RNG.uniform(0.5, 3.0, size=[8])).reshape(3, 3, 4, 8).astype(np.float32)
    assert OrthogonalRegularizer(beta=1.0)(kernel).numpy() == pytest.approx(0.0, abs=1e-8)
    # Not zero once two filters share a direction.
    kernel[..., 1] += kernel[..., 0]
    assert OrthogonalRegularizer(beta=1.0)(kernel).numpy() > 1e-2


@pytest.mark.parametrize("shape", [[3, 3, 2, 5], [6, 4]])
def test_orthogonal_gradient_is_twice_biggan_pytorch(shape):
    beta = 1e-2
    kernel = tf.Variable(RNG.normal(size=shape).astype(np.float32))
    with tf.GradientTape() as tape:
        value = OrthogonalRegularizer(beta)(kernel)
    grad = tape.gradient(value, kernel).numpy()
    v = kernel.numpy().reshape(-1, shape[-1]).T.astype(np.float64)  # [out, rest]
    mask = 1.0 - np.eye(shape[-1])
    grad_v = grad.reshape(-1, shape[-1]).T
    np.testing.assert_allclose(grad_v, 4 * beta * ((v @ v.T) * mask) @ v, rtol=1e-4, atol=1e-6)
    # BigGAN-PyTorch's utils.ortho adds 2β((VVᵀ) ⊙ (1 − I))V; beta / 2 reproduces it.
    pytorch_update = 2 * beta * ((v @ v.T) * mask) @ v
    with tf.GradientTape() as tape:
        half = OrthogonalRegularizer(beta / 2)(kernel)
    np.testing.assert_allclose(tape.gradient(half, kernel).numpy().reshape(-1, shape[-1]).T,
                               pytorch_update, rtol=1e-4, atol=1e-6)


def test_orthogonal_bfloat16_kernel_gives_float32():
    kernel = tf.constant(RNG.normal(size=[4, 6]), tf.bfloat16)
    got = OrthogonalRegularizer(1e-4)(kernel)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), _np_ortho(kernel.numpy().astype(np.float32), 1e-4),
                               rtol=1e-5)


def test_orthogonal_serialization_and_layer_use():
    reg = OrthogonalRegularizer(beta=5e-5)
    assert reg.get_config() == {"beta": 5e-5}
    assert OrthogonalRegularizer.from_config(reg.get_config()).get_config() == {"beta": 5e-5}
    serialized = keras.saving.serialize_keras_object(reg)
    assert serialized["registered_name"] == "tfbiggan>OrthogonalRegularizer"
    rebuilt = keras.saving.deserialize_keras_object(serialized)
    assert type(rebuilt) is OrthogonalRegularizer and rebuilt.beta == 5e-5
    layer = keras.layers.Dense(4, kernel_regularizer=reg)
    layer(np.zeros([1, 3], np.float32))
    np.testing.assert_allclose(float(sum(layer.losses)),
                               _np_ortho(layer.kernel.numpy(), 5e-5), rtol=1e-5)


@pytest.mark.parametrize("beta", [-1e-4, float("nan"), "1e-4", True])
def test_orthogonal_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match=r"`beta`.*>= 0.*received"):
        OrthogonalRegularizer(beta=beta)
    with pytest.raises(ValueError, match=r"`beta`"):
        regularizers.orthogonal_penalty([], beta=beta)


def test_orthogonal_penalty_sums_kernels():
    kernels = [tf.Variable(RNG.normal(size=s).astype(np.float32))
               for s in ([3, 3, 4, 8], [10, 6], [1, 1, 8, 3])]
    want = sum(_np_ortho(k.numpy(), 1e-4) for k in kernels)
    got = regularizers.orthogonal_penalty(kernels, beta=1e-4)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    assert regularizers.orthogonal_penalty([]).numpy() == 0.0
    with pytest.raises(ValueError, match="rank >= 2.*received shape"):
        regularizers.orthogonal_penalty([tf.zeros([5])])


def test_r1_is_reexported():
    assert regularizers.r1_penalty is losses.r1_penalty


def _np_history(values, decay):
    avg = np.array(values[0], np.float64)
    for t, value in enumerate(values[1:], start=2):
        rate = 1.0 / t if decay is None else 1.0 - decay
        avg = avg + rate * (value - avg)
    return avg


@pytest.mark.parametrize("decay", [None, 0.9])
def test_historical_averaging_matches_numpy(decay):
    a = tf.Variable(RNG.normal(size=[3, 2]).astype(np.float32))
    b = tf.Variable(RNG.normal(size=[4]).astype(np.float32))
    history = HistoricalAveraging(weight=0.5, decay=decay)
    history.build([a, b])
    seen_a, seen_b = [a.numpy()], [b.numpy()]
    assert history([a, b]).numpy() == 0.0
    for _ in range(5):
        a.assign_add(RNG.normal(size=[3, 2]).astype(np.float32))
        b.assign_add(RNG.normal(size=[4]).astype(np.float32))
        mean_a, mean_b = _np_history(seen_a, decay), _np_history(seen_b, decay)
        want = 0.5 * (np.sum((a.numpy() - mean_a) ** 2) + np.sum((b.numpy() - mean_b) ** 2))
        with tf.GradientTape() as tape:
            got = history([a, b])
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
        grad_a = tape.gradient(got, a)
        np.testing.assert_allclose(grad_a.numpy(), a.numpy() - mean_a, rtol=1e-4, atol=1e-6)
        history.update([a, b])
        seen_a.append(a.numpy())
        seen_b.append(b.numpy())
    if decay is None:
        np.testing.assert_allclose(history.averages[0].numpy(), np.mean(seen_a, axis=0),
                                   rtol=1e-5, atol=1e-6)
    assert int(history.count.numpy()) == 6


def test_historical_averaging_in_tf_function_and_two_replicas():
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        v = tf.Variable(np.arange(4, dtype=np.float32),
                        aggregation=tf.VariableAggregation.MEAN)
        history = HistoricalAveraging(weight=1.0)
        history.build([v])

    @tf.function
    def step(delta):
        def replica_fn():
            v.assign_add(delta)
            history.update([v])
            return history([v])
        return strategy.run(replica_fn)

    step(tf.fill([4], 2.0))
    step(tf.fill([4], 2.0))
    seen = [np.arange(4) + 2.0 * i for i in range(3)]
    np.testing.assert_allclose(history.averages[0].numpy(), np.mean(seen, axis=0), rtol=1e-6)
    assert int(history.count.numpy()) == 3


def test_historical_averaging_config_and_errors():
    history = HistoricalAveraging(weight=2.0, decay=0.99, name="hist")
    config = history.get_config()
    assert config == {"weight": 2.0, "decay": 0.99, "name": "hist"}
    assert HistoricalAveraging.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(history)
    assert serialized["registered_name"] == "tfbiggan>HistoricalAveraging"
    with pytest.raises(ValueError, match=r"`decay`.*\[0, 1\).*1.5"):
        HistoricalAveraging(decay=1.5)
    with pytest.raises(ValueError, match=r"`weight`.*-1"):
        HistoricalAveraging(weight=-1)
    history.build([tf.Variable(tf.zeros([2]))])
    with pytest.raises(ValueError, match="1 variables given to build"):
        history([tf.zeros([2]), tf.zeros([2])])
    with pytest.raises(ValueError, match=r"variables\[0\]"):
        history.update([tf.zeros([3])])


def test_wide_kernel_uses_the_small_gram_and_matches_the_definition():
    """A [rest, out] kernel with rest < out (the generator's first linear) gives the same
    penalty and gradient as the direct [out, out] computation."""
    rng = np.random.RandomState(3)
    w = rng.randn(6, 40).astype(np.float32)
    gram = w.astype(np.float64).T @ w.astype(np.float64)
    expected = np.sum((gram * (1.0 - np.eye(40))) ** 2)
    got = float(regularizers.orthogonal_penalty([tf.constant(w)], beta=1.0))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        penalty = regularizers.orthogonal_penalty([variable], beta=1.0)
    grad = tape.gradient(penalty, variable).numpy()
    expected_grad = 4.0 * w.astype(np.float64) @ (gram * (1.0 - np.eye(40)))
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
