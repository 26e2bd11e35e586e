"""DiffAugment: each policy on known inputs, gradients, replica slices and XLA, and its use on
every image D sees in the training step."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfbiggan import augment

SEED = tf.constant([3, 4], tf.int64)


def _images(batch=6, size=16, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(-1, 1, size=(batch, size, size, channels)), tf.float32)


def _draw(salt, total, minval=0, maxval=None, seed=SEED):
    return augment._draw(seed, salt, total, 0, total, minval, maxval).numpy()  # pylint: disable=protected-access


def test_translation_moves_pixels_exactly():
    images = _images()
    out = augment.translation(images, SEED).numpy()
    limit = int(16 * 0.125 + 0.5)
    dy = _draw(4, 6, -limit, limit + 1)
    dx = _draw(5, 6, -limit, limit + 1)
    assert np.all(np.abs(dy) <= limit) and np.all(np.abs(dx) <= limit)
    x = images.numpy()
    for i in range(6):
        expected = np.zeros_like(x[i])
        for r in range(16):
            for c in range(16):
                if 0 <= r - dy[i] < 16 and 0 <= c - dx[i] < 16:
                    expected[r, c] = x[i, r - dy[i], c - dx[i]]
        np.testing.assert_array_equal(out[i], expected)
    # Over many draws every shift in [-2, 2] occurs.
    assert set(_draw(4, 400, -limit, limit + 1)) == set(range(-limit, limit + 1))


def test_cutout_zeroes_exactly_the_drawn_square():
    images = _images(batch=8)
    out = augment.cutout(images, SEED).numpy()
    side = 8
    cy, cx = _draw(6, 8, maxval=17), _draw(7, 8, maxval=17)
    x = images.numpy()
    for i in range(8):
        mask = np.ones((16, 16, 1), np.float32)
        top, left = cy[i] - side // 2, cx[i] - side // 2
        mask[max(top, 0):max(top + side, 0), max(left, 0):max(left + side, 0)] = 0.0
        np.testing.assert_array_equal(out[i], x[i] * mask)
        assert np.sum(out[i] == 0) >= 3 * (16 * 16 - np.sum(mask))  # The square is zero.


def test_color_follows_its_formula():
    images = _images(batch=5)
    out = augment.color(images, SEED).numpy()
    brightness = _draw(1, 5) - 0.5
    saturation = _draw(2, 5) * 2.0
    contrast = _draw(3, 5) + 0.5
    assert np.all((brightness >= -0.5) & (brightness < 0.5))
    x = images.numpy().astype(np.float64) + brightness[:, None, None, None]
    mean = x.mean(axis=3, keepdims=True)
    x = (x - mean) * saturation[:, None, None, None] + mean
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = (x - mean) * contrast[:, None, None, None] + mean
    np.testing.assert_allclose(out, x, atol=1e-5)
    # Grey images: saturation leaves them as they are.
    grey = _images(batch=5, channels=1)
    g = grey.numpy() + brightness[:, None, None, None]
    g_mean = g.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(augment.color(grey, SEED).numpy(),
                               (g - g_mean) * contrast[:, None, None, None] + g_mean, atol=1e-5)


def test_policy_parsing_and_errors():
    assert augment.parse_policy("color, translation,cutout") == augment.POLICIES
    assert augment.parse_policy("") == () and augment.parse_policy(None) == ()
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['flip'\]; accepted"):
        augment.parse_policy("translation,flip")
    with pytest.raises(ValueError, match="repeated"):
        augment.parse_policy("cutout,cutout")
    with pytest.raises(ValueError, match="static H, W and C"):
        augment.diff_augment(tf.zeros([2, 8, 8]), "cutout", SEED)
    images = _images()
    np.testing.assert_array_equal(augment.diff_augment(images, "", SEED), images)


def test_gradients_flow_through_every_policy():
    images = tf.Variable(_images())
    for policy in augment.POLICIES + ("color,translation,cutout",):
        with tf.GradientTape() as tape:
            out = augment.diff_augment(images, policy, SEED)
            loss = tf.reduce_sum(out * out)
        grad = tape.gradient(loss, images).numpy()
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), policy
    # Translation's gradient routes each output pixel's gradient back to its source pixel.
    with tf.GradientTape() as tape:
        out = augment.translation(images, SEED)
        loss = tf.reduce_sum(out)
    kept = tape.gradient(loss, images).numpy()
    assert set(np.unique(kept)) <= {0.0, 1.0}
    np.testing.assert_array_equal(kept.sum(axis=(1, 2, 3)),
                                  (augment.translation(tf.ones_like(images), SEED) != 0)
                                  .numpy().sum(axis=(1, 2, 3)))


def test_slices_of_a_global_batch_and_xla_agree():
    images = _images(batch=8)
    whole = augment.diff_augment(images, "color,translation,cutout", SEED).numpy()
    first = augment.diff_augment(images[:3], "color,translation,cutout", SEED, 0, 8)
    rest = tf.function(lambda x: augment.diff_augment(x, "color,translation,cutout", SEED, 3, 8),
                       jit_compile=True)(images[3:])
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, atol=2e-6)


def test_training_step_augments_every_image_d_sees(monkeypatch):
    """Real and generated images in D's update, generated ones in G's: all pass through
    DiffAugment with draws of their own; G's gradient flows through it. (One vs two replicas
    and XLA with augmentation: tests/training/test_step.py.)"""
    from tests.training import helpers  # pylint: disable=import-outside-toplevel
    from tfbiggan.training import step as step_lib  # pylint: disable=import-outside-toplevel
    from tfbiggan.training import trainer as trainer_lib  # pylint: disable=import-outside-toplevel
    calls = []
    original = step_lib.GANStep._augment  # pylint: disable=protected-access

    def spy(self, images, step, stream, index, sub_step):
        calls.append((tuple(images.shape), stream, index))
        return original(self, images, step, stream, index, sub_step)

    monkeypatch.setattr(step_lib.GANStep, "_augment", spy)
    trainer = trainer_lib.Trainer(
        helpers.tiny_config(augment="translation,cutout", num_d_steps=2), "/nonexistent-unused")
    assert trainer.gan_step.augment_policy == ("translation", "cutout")
    images, labels = helpers.random_batch(2 * 4, 32, 10, seed=1)
    iterator = helpers.distributed_iterator(trainer.strategy, [images], [labels])
    before = helpers.snapshot(trainer.generator)
    trainer.iteration_fn()(iterator)
    # Two D updates (real images: stream 4, generated: 5, each with the update's index), then
    # the generated images of G's update (stream 6): every image D sees.
    assert [call[1:] for call in calls] == [(4, 0), (5, 0), (4, 1), (5, 1), (6, 0)]
    assert all(shape == (4, 32, 32, 3) for shape, _, _ in calls)
    # Real and generated images of one update get transforms of their own.
    seed = tf.constant([0, 0], tf.int64)
    real = augment.diff_augment(images[:4], "translation,cutout", seed + [0, 40_000])
    fake = augment.diff_augment(images[:4], "translation,cutout", seed + [0, 50_000])
    assert np.abs(np.asarray(real) - np.asarray(fake)).max() > 0.1
    after = helpers.snapshot(trainer.generator)
    assert max(np.abs(a - b).max() for (_, a), (_, b) in zip(after, before)) > 1e-6


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
