"""Tests of ConditionalBN and StandingBatchNorm against NumPy batch normalisation."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests import layer_harness
from tests.layers.test_spectral_norm import (BASE_CONFIG_KEYS, constructor_keys,
                                             np_sn_kernel_of, randn)
from tfbiggan.layers import GBlock
from tfbiggan.layers.normalization import (ConditionalBN, StandingBatchNorm,
                                           accumulate_standing_statistics, batch_norm_layers)


def np_moments(x):
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - 1))
    return x.mean(axes), x.var(axes)  # biased variance


def np_unbiased_variance(x):
    x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    return x.var(0, ddof=1)


def np_cbn(x, condition, cbn, mean=None, variance=None):
    """x̂·(1 + c·W_γ/σ_γ) + c·W_β/σ_β with batch moments unless `mean`/`variance` given.

    Call before the layer: σ comes from the u stored at that time.
    """
    if mean is None:
        mean, variance = np_moments(x)
    normalized = (np.asarray(x, np.float64) - mean) / np.sqrt(variance + cbn.epsilon)
    if cbn.use_spectral_norm:
        gain_kernel, bias_kernel = np_sn_kernel_of(cbn.gain), np_sn_kernel_of(cbn.bias)
    else:
        gain_kernel, bias_kernel = cbn.gain.kernel.numpy(), cbn.bias.kernel.numpy()
    gain = 1.0 + condition @ gain_kernel
    bias = condition @ bias_kernel
    if normalized.ndim == 4:
        gain, bias = gain[:, None, None, :], bias[:, None, None, :]
    return normalized * gain + bias


def _random_projections(cbn, seed=0):
    cbn.gain.kernel.assign(randn(*cbn.gain.kernel.shape, seed=seed) * 0.5)
    cbn.bias.kernel.assign(randn(*cbn.bias.kernel.shape, seed=seed + 1) * 0.5)


# --- Harness, models, arguments ---------------------------------------------------------------

def test_conditional_bn_harness():
    layer_harness.check_layer(lambda: ConditionalBN(num_truncation_stats=3),
                              [randn(4, 3, 3, 4, seed=1), randn(4, 5, seed=2)])


def test_standing_batch_norm_harness():
    layer_harness.check_layer(lambda: StandingBatchNorm(num_truncation_stats=0),
                              randn(4, 3, 3, 4, seed=3))


@pytest.mark.parametrize("cls", [ConditionalBN, StandingBatchNorm])
def test_get_config_keys_are_constructor_arguments(cls):
    assert set(cls().get_config()) == constructor_keys(cls) | BASE_CONFIG_KEYS


def test_standing_batch_norm_in_sequential():
    bn = StandingBatchNorm(epsilon=1e-3, momentum=0.8)
    model = keras.Sequential([keras.Input((3, 2, 4)), bn])
    bn.gamma.assign(randn(4, seed=1))
    bn.beta.assign(randn(4, seed=2))
    x = randn(5, 3, 2, 4, seed=3) * 2.0 + 1.0
    mean, variance = np_moments(x)
    expected = (x - mean) / np.sqrt(variance + 1e-3) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(model(x, training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.2 * mean, rtol=1e-5, atol=1e-6)
    # Inference uses the moving averages.
    moving_mean, moving_variance = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    expected = ((x - moving_mean) / np.sqrt(moving_variance + 1e-3) * bn.gamma.numpy()
                + bn.beta.numpy())
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_conditional_bn_in_functional_model_rank_2():
    x_in, c_in = keras.Input((6,)), keras.Input((3,))
    cbn = ConditionalBN(momentum=0.5)
    model = keras.Model([x_in, c_in], cbn(x_in, c_in))
    _random_projections(cbn)
    x, c = randn(8, 6, seed=4) + 3.0, randn(8, 3, seed=5)
    expected = np_cbn(x, c, cbn)
    np.testing.assert_allclose(model([x, c], training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)
    # Inference: moving statistics after one update from (0, 1) with momentum 0.5.
    mean = 0.5 * x.mean(0)
    variance = 0.5 + 0.5 * np_unbiased_variance(x)
    expected = np_cbn(x, c, cbn, mean, variance)
    np.testing.assert_allclose(model([x, c]).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_conditional_bn_takes_the_keras_list_call():
    """`cbn([x, c])`, Keras's call for multi-input layers, equals `cbn(x, c)`: eagerly, in a
    functional model, and in training mode against the NumPy formula."""
    x, c = randn(6, 3, 3, 4, seed=6) + 1.0, randn(6, 5, seed=7)
    cbn = ConditionalBN()
    cbn([x, c])  # Builds from the list.
    _random_projections(cbn, seed=3)
    expected = np_cbn(x, c, cbn)
    np.testing.assert_allclose(cbn([x, c], training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(cbn((x, c), training=False).numpy(),
                               cbn(x, c, training=False).numpy(), rtol=0, atol=0)
    x_in, c_in = keras.Input((3, 3, 4)), keras.Input((5,))
    listed = ConditionalBN()
    out = listed([x_in, c_in])
    assert tuple(out.shape) == (None, 3, 3, 4)
    model = keras.Model([x_in, c_in], out)
    _random_projections(listed, seed=3)
    expected = np_cbn(x, c, listed)  # Before the call, which updates the SN vectors.
    np.testing.assert_allclose(model([x, c], training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)
    with pytest.raises(ValueError, match=r"needs `x` and `condition`"):
        ConditionalBN()(x)


@pytest.mark.parametrize("make,pattern", [
    (lambda: ConditionalBN(momentum=1.5), r"`momentum`.*1\.5"),
    (lambda: ConditionalBN(epsilon=0.0), r"`epsilon`.*0\.0"),
    (lambda: ConditionalBN(synchronized="yes"), r"`synchronized`.*'yes'"),
    (lambda: ConditionalBN(num_truncation_stats=1), r"`num_truncation_stats`.*got 1"),
    (lambda: ConditionalBN(num_truncation_stats=-3), r"`num_truncation_stats`.*-3"),
    (lambda: ConditionalBN(use_spectral_norm=1), r"`use_spectral_norm`.*got 1"),
    (lambda: ConditionalBN(sn_epsilon=-1e-6), r"`sn_epsilon`.*-1e-06"),
    (lambda: ConditionalBN(num_power_iterations=0), r"`num_power_iterations`.*got 0"),
    (lambda: StandingBatchNorm(momentum=-0.1), r"`momentum`.*-0\.1"),
    (lambda: StandingBatchNorm(epsilon="big"), r"`epsilon`.*'big'"),
])
def test_bad_constructor_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_input_rank_and_width():
    c = randn(2, 5)
    with pytest.raises(ValueError, match=r"ConditionalBN.*rank 2 or 4.*\(2, 3, 4\)"):
        ConditionalBN()(randn(2, 3, 4), c)
    with pytest.raises(ValueError, match=r"`condition` of rank 2"):
        ConditionalBN()(randn(2, 4), randn(2, 5, 1))
    cbn = ConditionalBN()
    cbn(randn(2, 3, 3, 4), c)
    with pytest.raises(ValueError, match=r"`x` with last dimension 4"):
        cbn(randn(2, 3, 3, 6), c)
    with pytest.raises(ValueError, match=r"`condition` with last dimension 5"):
        cbn(randn(2, 3, 3, 4), randn(2, 7))
    with pytest.raises(ValueError, match=r"StandingBatchNorm.*rank 2 or 4"):
        StandingBatchNorm()(randn(2, 3, 4))
    bn = StandingBatchNorm()
    bn(randn(2, 4))
    with pytest.raises(ValueError, match=r"last dimension 4"):
        bn(randn(2, 5))
    with pytest.raises(ValueError, match=r"`row` must be < 51, got 51"):
        bn.store_standing_in_bank(51)
    with pytest.raises(ValueError, match=r"no truncation bank"):
        no_bank = StandingBatchNorm(num_truncation_stats=0)
        no_bank(randn(2, 4))
        no_bank.store_standing_in_bank(0)


# --- Normalisation math -----------------------------------------------------------------------

def test_zero_projections_give_plain_batch_norm():
    cbn = ConditionalBN(use_spectral_norm=False, epsilon=1e-3)
    x, c = randn(6, 3, 2, 4, seed=6) * 3.0 - 2.0, randn(6, 5, seed=7)
    cbn(x, c)
    cbn.gain.kernel.assign(np.zeros((5, 4), np.float32))
    cbn.bias.kernel.assign(np.zeros((5, 4), np.float32))
    mean, variance = np_moments(x)
    np.testing.assert_allclose(cbn(x, c, training=True).numpy(),
                               (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-4, atol=1e-4)


def test_zero_condition_gives_plain_batch_norm_with_spectral_norm():
    cbn = ConditionalBN(epsilon=1e-5)
    x = randn(6, 3, 2, 4, seed=8) * 3.0 - 2.0
    zero = np.zeros((6, 5), np.float32)
    cbn(x, zero)
    _random_projections(cbn)
    mean, variance = np_moments(x)
    np.testing.assert_allclose(cbn(x, zero, training=True).numpy(),
                               (x - mean) / np.sqrt(variance + 1e-5), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x_shape", [(6, 3, 2, 4), (7, 4)])
def test_nonzero_projections_apply_gain_centred_at_one(x_shape):
    cbn = ConditionalBN(epsilon=1e-4)
    x, c = randn(*x_shape, seed=9) * 2.0 + 0.5, randn(x_shape[0], 5, seed=10)
    cbn(x, c)
    _random_projections(cbn, seed=11)
    expected = np_cbn(x, c, cbn)
    got = cbn(x, c, training=True).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # Without the "+1" the result would be far off.
    mean, variance = np_moments(x)
    without_one = expected - (x - mean) / np.sqrt(variance + 1e-4)
    assert np.abs(got - without_one).max() > 0.5


def test_moving_averages_follow_momentum_with_unbiased_variance():
    cbn = ConditionalBN(momentum=0.7)
    c = randn(5, 3, seed=12)
    batches = [randn(5, 2, 3, 4, seed=13) * 2.0 + 1.0, randn(5, 2, 3, 4, seed=14) - 3.0]
    cbn(batches[0], c)
    np.testing.assert_array_equal(cbn.moving_mean.numpy(), np.zeros(4))  # inference: no update
    mean, variance = np.zeros(4), np.ones(4)
    for x in batches:
        cbn(x, c, training=True)
        mean = 0.7 * mean + 0.3 * np_moments(x)[0]
        variance = 0.7 * variance + 0.3 * np_unbiased_variance(x)
        np.testing.assert_allclose(cbn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cbn.moving_variance.numpy(), variance, rtol=1e-5)
    x_test = randn(5, 2, 3, 4, seed=15)
    np.testing.assert_allclose(cbn(x_test, c).numpy(), np_cbn(x_test, c, cbn, mean, variance),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("synchronized", [True, False])
def test_two_replicas_with_half_batches_equal_one_replica(synchronized):
    strategy = conftest.two_replica_strategy()
    x = randn(8, 3, 3, 4, seed=16)
    x[:4] = x[:4] * 2.0 + 3.0  # the two halves have different statistics
    c = randn(8, 5, seed=17)
    single = ConditionalBN(momentum=0.8, synchronized=True, num_truncation_stats=0)
    single(x[:1], c[:1])
    _random_projections(single, seed=18)
    with strategy.scope():
        mirrored = ConditionalBN(momentum=0.8, synchronized=synchronized,
                                 num_truncation_stats=0)
        mirrored(x[:1], c[:1])
    mirrored.set_weights(single.get_weights())
    expected = single(x, c, training=True).numpy()

    dataset = tf.data.Dataset.from_tensor_slices((x, c)).batch(8, drop_remainder=True)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(xs, cs):
        return strategy.run(lambda a, b: mirrored(a, b, training=True), args=(xs, cs))

    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(step(*batch))])
    if not synchronized:  # per-replica statistics differ from the global ones
        assert np.abs(got - expected).max() > 0.1
        return
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(mirrored, name).numpy(),
                                   getattr(single, name).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(single.moving_variance.numpy(),
                               0.8 + 0.2 * np_unbiased_variance(x), rtol=1e-5)
    np.testing.assert_allclose(mirrored.gain.u.numpy(), single.gain.u.numpy(), atol=1e-6)


def _moments_reference(x, gain, bias, epsilon):
    """Batch norm with per-example or per-channel gain and bias, from tf.nn.moments (float64)."""
    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
    if len(gain.shape) == 2:
        gain, bias = gain[:, None, None, :], bias[:, None, None, :]
    return (x - mean) / tf.sqrt(variance + epsilon) * gain + bias


@pytest.mark.parametrize("conditional", [True, False], ids=["conditional", "standing"])
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_training_path_matches_moments_formula_with_gradients(conditional, jit_compile):
    """Local-statistics training calls use one fused batch-norm kernel (with XLA too): same
    outputs, input and parameter gradients, and moving statistics as the moments formula."""
    x, c, w = randn(4, 3, 5, 6, seed=80) * 2.0 + 1.5, randn(4, 5, seed=81), randn(4, 3, 5, 6,
                                                                                     seed=82)
    if conditional:
        layer = ConditionalBN(momentum=0.6, epsilon=1e-3, use_spectral_norm=False)
        layer(x, c)
        _random_projections(layer, seed=83)
        params = [layer.gain.kernel, layer.bias.kernel]
    else:
        layer = StandingBatchNorm(momentum=0.6, epsilon=1e-3)
        layer(x)
        layer.gamma.assign(randn(6, seed=84) + 1.0)
        layer.beta.assign(randn(6, seed=85))
        params = [layer.gamma, layer.beta]

    def train(x_t):
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y = layer(x_t, c, training=True) if conditional else layer(x_t, training=True)
            loss = tf.reduce_sum(y * w)
        return [y] + tape.gradient(loss, [x_t] + params)

    got = tf.function(train, jit_compile=jit_compile)(tf.constant(x))

    x64, c64, w64 = (tf.constant(a, tf.float64) for a in (x, c, w))
    p64 = [tf.constant(p.numpy(), tf.float64) for p in params]
    with tf.GradientTape() as tape:
        tape.watch([x64] + p64)
        gain, bias = (1.0 + c64 @ p64[0], c64 @ p64[1]) if conditional else p64
        y64 = _moments_reference(x64, gain, bias, 1e-3)
        loss = tf.reduce_sum(y64 * w64)
    expected = [y64] + tape.gradient(loss, [x64] + p64)
    for name, a, b in zip(["output", "d/dx", "d/dparam0", "d/dparam1"], got, expected):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.4 * np_moments(x)[0], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               0.6 + 0.4 * np_unbiased_variance(x), rtol=1e-5)


# --- Standing statistics and the truncation bank ----------------------------------------------

def _two_bn_model(cbn, bn):
    x_in, c_in = keras.Input((2, 3, 4)), keras.Input((5,))
    return keras.Model([x_in, c_in], [cbn(x_in, c_in), bn(x_in)])


def test_standing_statistics_are_exact_average_of_batch_moments():
    cbn = ConditionalBN(momentum=0.5, epsilon=1e-3)
    bn = StandingBatchNorm(momentum=0.5, epsilon=1e-3)
    model = _two_bn_model(cbn, bn)
    _random_projections(cbn)
    bn.gamma.assign(randn(4, seed=20))
    bn.beta.assign(randn(4, seed=21))
    c = randn(3, 5, seed=22)
    model([randn(3, 2, 3, 4, seed=23), c], training=True)  # moving averages move away from 0/1
    moving = [(l.moving_mean.numpy(), l.moving_variance.numpy()) for l in (cbn, bn)]
    batches = [randn(3, 2, 3, 4, seed=24 + i) * (i + 1) + 2 * i for i in range(4)]
    assert set(batch_norm_layers(model)) == {cbn, bn}
    with accumulate_standing_statistics(model) as layers:
        assert set(layers) == {cbn, bn}
        train = tf.function(lambda a, b: model([a, b], training=True))  # traced in the context
        for x in batches:
            train(x, c)
    moments = [np_moments(x) for x in batches]
    standing_mean = np.mean([m for m, _ in moments], axis=0)
    standing_variance = np.mean([v for _, v in moments], axis=0)
    for layer, (moving_mean, moving_variance) in zip((cbn, bn), moving):
        assert float(layer.standing_count.numpy()) == 4.0
        mean, variance = layer.standing_statistics()
        np.testing.assert_allclose(mean, standing_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(variance, standing_variance, rtol=1e-5)
        np.testing.assert_array_equal(layer.moving_mean.numpy(), moving_mean)
        np.testing.assert_array_equal(layer.moving_variance.numpy(), moving_variance)
    # Inference now uses the standing statistics.
    x = randn(3, 2, 3, 4, seed=30)
    cbn_expected = np_cbn(x, c, cbn, standing_mean, standing_variance)
    bn_expected = ((x - standing_mean) / np.sqrt(standing_variance + 1e-3) * bn.gamma.numpy()
                   + bn.beta.numpy())
    cbn_out, bn_out = model([x, c], training=False)
    np.testing.assert_allclose(cbn_out.numpy(), cbn_expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn_out.numpy(), bn_expected, rtol=1e-4, atol=1e-4)
    # Outside the context training updates the moving averages again.
    model([x, c], training=True)
    assert not np.allclose(bn.moving_mean.numpy(), moving[1][0])
    assert float(bn.standing_count.numpy()) == 4.0
    # Entering the context again resets the sums.
    with accumulate_standing_statistics(model):
        model([batches[0], c], training=True)
    np.testing.assert_allclose(bn.standing_statistics()[0], moments[0][0], rtol=1e-5,
                               atol=1e-6)


def test_batch_norm_layers_finds_nested_layers():
    block = GBlock(4)
    block(randn(2, 4, 4, 4), randn(2, 3))
    found = batch_norm_layers(block)
    assert len(found) == 2 and set(found) == {block.bn1, block.bn2}


@pytest.mark.parametrize("conditional", [True, False])
def test_truncation_bank_uses_rows_and_interpolates(conditional):
    rows = 3  # t = 0, 0.5, 1
    layer = (ConditionalBN(num_truncation_stats=rows, epsilon=1e-3) if conditional
             else StandingBatchNorm(num_truncation_stats=rows, epsilon=1e-3))
    c = randn(4, 5, seed=40)
    args = (lambda x: (x, c)) if conditional else (lambda x: (x,))
    layer(*args(randn(4, 2, 2, 3)))
    if conditional:
        _random_projections(layer, seed=41)
    bank = []
    for row in range(rows):
        batches = [randn(4, 2, 2, 3, seed=50 + 2 * row + i) * (row + 1) + 3 * row
                   for i in range(2)]
        with accumulate_standing_statistics(layer):
            for x in batches:
                layer(*args(x), training=True)
        layer.store_standing_in_bank(row)
        moments = [np_moments(x) for x in batches]
        bank.append((np.mean([m for m, _ in moments], 0), np.mean([v for _, v in moments], 0)))
    np.testing.assert_allclose(layer.bank_mean.numpy(), [m for m, _ in bank], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(layer.bank_variance.numpy(), [v for _, v in bank], rtol=1e-5)
    x = randn(4, 2, 2, 3, seed=60)

    def reference(mean, variance):
        if conditional:
            return np_cbn(x, c, layer, mean, variance)
        return (x - mean) / np.sqrt(variance + 1e-3) * layer.gamma.numpy() + layer.beta.numpy()

    compiled = tf.function(lambda a, t: layer(*args(a), training=False, truncation=t))
    for t in (0.0, 0.5, 1.0, 0.25, 0.8, 0.1):
        position = t * (rows - 1)
        low = min(int(np.floor(position)), rows - 2)
        frac = position - low
        mean = (1 - frac) * bank[low][0] + frac * bank[low + 1][0]
        variance = (1 - frac) * bank[low][1] + frac * bank[low + 1][1]
        expected = reference(mean, variance)
        got = layer(*args(x), training=False, truncation=t).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"t={t}")
        np.testing.assert_allclose(compiled(x, tf.constant(t)).numpy(), expected, rtol=1e-4,
                                   atol=1e-4, err_msg=f"t={t} (tf.function)")
    # Without a truncation value, inference uses the last standing statistics (row 2).
    np.testing.assert_allclose(layer(*args(x)).numpy(), reference(*bank[-1]), rtol=1e-4,
                               atol=1e-4)


def test_statistics_stay_float32_under_mixed_bfloat16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        cbn = ConditionalBN(num_truncation_stats=3, momentum=0.9)
        # A large offset: bfloat16 arithmetic (spacing 0.5 at 100) would ruin the moments.
        x = tf.cast(randn(6, 2, 2, 4, seed=70) + 100.0, tf.bfloat16)
        x_exact = tf.cast(x, tf.float32).numpy()
        c = tf.cast(randn(6, 3, seed=71), tf.bfloat16)
        c_exact = tf.cast(c, tf.float32).numpy()
        cbn(x, c)
        expected = np_cbn(x_exact, c_exact, cbn)
        out = cbn(x, c, training=True)
        assert out.dtype == tf.bfloat16
        for weight in cbn.weights:
            assert weight.dtype == "float32", weight.path
        mean, _ = np_moments(x_exact)
        np.testing.assert_allclose(cbn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
        np.testing.assert_allclose(cbn.moving_variance.numpy(),
                                   0.9 + 0.1 * np_unbiased_variance(x_exact), rtol=1e-4)
        np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), expected, atol=5e-2)
        with accumulate_standing_statistics(cbn):
            cbn(x, c, training=True)
        cbn.store_standing_in_bank(1)
        np.testing.assert_allclose(cbn.bank_mean.numpy()[1], mean, rtol=1e-5)
    finally:
        keras.config.set_dtype_policy(previous)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
