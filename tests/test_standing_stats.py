"""Standing statistics and the truncation bank against independently computed batch moments."""

import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tests import conftest  # noqa: F401  (two logical CPU devices)
from tfbiggan import standing_stats
from tfbiggan.layers import normalization
from tfbiggan.models.biggan import BigGANGenerator

BATCH = 4


def _generator(rows=3, seed=1):
    tf.keras.utils.set_random_seed(seed)
    generator = BigGANGenerator(32, ch=4, num_classes=10, num_truncation_stats=rows)
    generator(np.zeros((1, generator.dim_z), np.float32), np.array([0]))
    return generator


def _manual_inputs(generator, truncation, seed, index):
    """z and labels of batch `index`, drawn here with SciPy / NumPy directly."""
    rng = np.random.default_rng((seed, index, 0))
    if truncation == 0:
        z = np.zeros((BATCH, generator.dim_z), np.float32)
    else:
        z = (truncation * stats.truncnorm.rvs(-2, 2, size=(BATCH, generator.dim_z),
                                              random_state=rng)).astype(np.float32)
    labels = np.random.default_rng((seed, index, 1)).integers(0, 10, BATCH).astype(np.int32)
    return z, labels


def _manual_standing(generator, weights, num_batches, truncation, seed, monkeypatch):
    """Mean over batches of each BN's batch moments, computed with NumPy from the BN inputs
    recorded during eager training-mode passes (weights reset before every pass)."""
    layers = normalization.batch_norm_layers(generator)
    records = {id(layer): [] for layer in layers}
    for layer in layers:
        original = layer._affine  # pylint: disable=protected-access

        def recording(x, training, truncation_, gain, bias, _layer=layer, _original=original):
            records[id(_layer)].append(np.asarray(x, np.float64))
            return _original(x, training, truncation_, gain, bias)

        monkeypatch.setattr(layer, "_affine", recording)
    for index in range(num_batches):
        generator.set_weights(weights)
        z, labels = _manual_inputs(generator, truncation, seed, index)
        generator(z, labels, training=True)
    generator.set_weights(weights)
    monkeypatch.undo()
    result = []
    for layer in layers:
        inputs = records[id(layer)]
        assert len(inputs) == num_batches
        axes = tuple(range(inputs[0].ndim - 1))
        result.append((np.mean([x.mean(axis=axes) for x in inputs], axis=0),
                       np.mean([x.var(axis=axes) for x in inputs], axis=0)))
    return result


def test_standing_statistics_equal_mean_of_batch_moments(monkeypatch):
    generator = _generator()
    weights = generator.get_weights()
    layers = standing_stats.collect_standing_statistics(generator, num_batches=3,
                                                        batch_size=BATCH, truncation=0.6,
                                                        seed=5)
    collected = [layer.standing_statistics() for layer in layers]
    counts = [float(layer.standing_count.numpy()) for layer in layers]
    expected = _manual_standing(generator, weights, 3, 0.6, 5, monkeypatch)
    assert len(layers) == 2 * 3 + 1  # two CBNs per block, one output BN
    assert counts == [3.0] * len(layers)
    for (mean, var), (mean_ref, var_ref) in zip(collected, expected):
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(var, var_ref, rtol=1e-4, atol=1e-6)


def test_collection_changes_only_the_statistics():
    generator = _generator()
    statistics = {id(getattr(layer, name))
                  for layer in normalization.batch_norm_layers(generator)
                  for name in ("standing_mean_sum", "standing_variance_sum", "standing_count",
                               "bank_mean", "bank_variance")}
    before = {id(v): v.numpy().copy() for v in generator.weights}
    standing_stats.collect_standing_statistics(generator, 2, BATCH, truncation=1.0)
    changed = [v.path for v in generator.weights
               if not np.array_equal(v.numpy(), before[id(v)]) and id(v) not in statistics]
    assert changed == []  # SN vectors, moving averages and kernels untouched
    standing = [v for v in generator.weights if id(v) in statistics
                and not np.array_equal(v.numpy(), before[id(v)])]
    assert standing  # ... while standing statistics were written


@pytest.mark.slow
def test_bank_row_equals_standing_statistics_at_that_truncation():
    generator = _generator(rows=3)
    standing_stats.collect_standing_statistics(generator, 2, BATCH, truncation=0.3, seed=9)
    kept = [layer.standing_statistics() for layer in
            normalization.batch_norm_layers(generator)]
    truncations = standing_stats.collect_truncation_bank(generator, num_batches=2,
                                                         batch_size=BATCH, seed=4)
    np.testing.assert_allclose(truncations, [0.0, 0.5, 1.0])
    layers = normalization.batch_norm_layers(generator)
    banks = [(layer.bank_mean.numpy(), layer.bank_variance.numpy()) for layer in layers]
    # The standing statistics present before the bank collection are restored.
    for layer, (mean, var) in zip(layers, kept):
        np.testing.assert_array_equal(layer.standing_statistics()[0], mean)
        np.testing.assert_array_equal(layer.standing_statistics()[1], var)
    for row, truncation in enumerate(truncations):
        standing_stats.collect_standing_statistics(generator, 2, BATCH, truncation=truncation,
                                                   seed=4)
        for layer, (bank_mean, bank_var) in zip(layers, banks):
            mean, var = layer.standing_statistics()
            np.testing.assert_allclose(bank_mean[row], mean, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(bank_var[row], var, rtol=1e-6, atol=1e-7)
    # Rows differ: the statistics depend on the truncation.
    first = banks[0]
    assert np.abs(first[1][2] - first[1][1]).max() > 1e-3
    assert np.abs(first[1][1] - first[1][0]).max() > 1e-3


def test_row_zero_is_z_equal_zero(monkeypatch):
    generator = _generator(rows=3)
    weights = generator.get_weights()
    standing_stats.collect_truncation_bank(generator, num_batches=2, batch_size=BATCH, seed=2)
    layers = normalization.batch_norm_layers(generator)
    banks = [(layer.bank_mean.numpy()[0], layer.bank_variance.numpy()[0]) for layer in layers]
    bank_weights = generator.get_weights()
    expected = _manual_standing(generator, weights, 2, 0.0, 2, monkeypatch)
    generator.set_weights(bank_weights)
    for (mean, var), (mean_ref, var_ref) in zip(banks, expected):
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(var, var_ref, rtol=1e-4, atol=1e-6)


def test_inference_at_bank_truncation_equals_standing_inference():
    generator = _generator(rows=3)
    standing_stats.collect_truncation_bank(generator, num_batches=2, batch_size=BATCH, seed=3)
    z = np.random.default_rng(0).standard_normal((3, generator.dim_z)).astype(np.float32) * .5
    labels = np.array([1, 4, 7])
    with_bank = generator(z, labels, truncation=0.5).numpy()
    with_bank_low = generator(z, labels, truncation=0.0).numpy()
    standing_stats.collect_standing_statistics(generator, 2, BATCH, truncation=0.5, seed=3)
    standing = generator(z, labels).numpy()
    np.testing.assert_allclose(with_bank, standing, atol=1e-5)
    assert np.abs(with_bank - with_bank_low).max() > 1e-3


def test_invalid_arguments():
    generator = _generator()
    with pytest.raises(ValueError, match="num_batches"):
        standing_stats.collect_standing_statistics(generator, 0, BATCH)
    with pytest.raises(ValueError, match=r"truncation.*\(0.0, 1.0\].*1.5"):
        standing_stats.collect_standing_statistics(generator, 1, BATCH, truncation=1.5)
    with pytest.raises(ValueError, match="mode"):
        standing_stats.collect_standing_statistics(generator, 1, BATCH, mode="paper")
    no_bank = BigGANGenerator(32, ch=4, num_classes=10, num_truncation_stats=0)
    with pytest.raises(ValueError, match="no truncation bank"):
        standing_stats.collect_truncation_bank(no_bank, 1, BATCH)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
