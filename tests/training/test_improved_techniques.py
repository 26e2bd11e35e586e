"""Improved-Techniques options of the training step against NumPy: one-sided label smoothing,
feature matching and historical averaging."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training import helpers
from tfbiggan.models import presets
from tfbiggan.training.step import GANStep, StepConfig


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def test_one_sided_label_smoothing_d_loss_matches_numpy():
    generator, discriminator = helpers.toy_models(seed=1)
    config = StepConfig(global_batch_size=6, num_d_steps=1, loss="non_saturating",
                        loss_options={"real_label": 0.9}, seed=3)
    step = GANStep(generator, discriminator, keras.optimizers.SGD(0.0),
                   keras.optimizers.SGD(0.0), config)
    real, labels = helpers.random_batch(6, 4, 3, seed=4)
    counter = tf.constant(2, tf.int64)
    z, y = step._latents(counter, 1, 0, 0, 6)
    r = np.asarray(discriminator(real, labels), np.float64)
    f = np.asarray(discriminator(generator(z, y), y), np.float64)
    # Real targets 0.9, fake targets stay 0.
    expected = np.mean(-0.9 * _log_sigmoid(r) - 0.1 * _log_sigmoid(-r) - _log_sigmoid(-f))
    stats = step.replica_iteration(tf.constant(real), tf.constant(labels), counter)
    np.testing.assert_allclose(float(stats["d_loss"]), expected, rtol=1e-5)


@pytest.mark.parametrize("mode", ["replace", "add"])
def test_feature_matching_g_loss_matches_numpy(mode):
    keras.utils.set_random_seed(0)
    generator, discriminator = presets.from_preset("progan_mini_32")
    config = StepConfig(global_batch_size=4, num_d_steps=1, loss="wasserstein", seed=1,
                        feature_matching=mode)
    step = GANStep(generator, discriminator, keras.optimizers.SGD(0.0),
                   keras.optimizers.SGD(0.0), config)  # lr 0: D is unchanged by its update.
    real, labels = helpers.random_batch(4, 32, 10, seed=5)
    counter = tf.constant(7, tf.int64)
    z, y = step._latents(counter, 2, 0, 0, 4)
    fake_logits, fake_h = discriminator(generator(z, y), y, return_features=True)
    _, real_h = discriminator(real, labels, return_features=True)
    expected = np.sum((np.mean(real_h, 0) - np.mean(fake_h, 0)) ** 2)
    if mode == "add":
        expected += -np.mean(fake_logits)
    stats = step.replica_iteration(tf.constant(real), tf.constant(labels), counter)
    np.testing.assert_allclose(float(stats["g_loss"]), expected, rtol=1e-4)


def test_historical_averaging_penalty_pulls_d_towards_its_average():
    generator, discriminator = helpers.toy_models(seed=2)
    config = StepConfig(global_batch_size=6, num_d_steps=1, loss="hinge",
                        historical_averaging_d=0.5)
    step = GANStep(generator, discriminator, keras.optimizers.SGD(0.0),
                   keras.optimizers.SGD(0.0), config)
    step.build_history()
    assert step.g_history is None
    variables = discriminator.trainable_variables
    # Move D away from its recorded average by +1 everywhere: penalty 0.5 · #params.
    for v in variables:
        v.assign_add(tf.ones_like(v))
    size = sum(int(np.prod(v.shape)) for v in variables)
    assert float(step.d_history(variables)) == pytest.approx(0.5 * size)
    real, labels = helpers.random_batch(6, 4, 3)
    step.replica_iteration(tf.constant(real), tf.constant(labels), tf.constant(0, tf.int64))
    assert int(step.d_history.count.numpy()) == 2  # Updated after the D step.


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
