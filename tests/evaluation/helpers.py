"""Tiny generators, stand-in feature networks and real arrays for the evaluation tests."""

import numpy as np
import tensorflow as tf

from tfbiggan import sampling
from tfbiggan.models import BigGANGenerator

NUM_CLASSES = 10


def tiny_generator(seed=0, bank=11, out_channels=3):
    tf.keras.utils.set_random_seed(seed)
    generator = BigGANGenerator(32, ch=4, num_classes=NUM_CLASSES, num_truncation_stats=bank,
                                attention=(), out_channels=out_channels)
    generator(np.zeros((2, generator.dim_z), np.float32), np.zeros((2,), np.int32))
    return generator


class Features:
    """Deterministic stand-in feature network: 4×4 average pooling of the channel mean → 16
    features; logits are a fixed linear map of them. Counts its calls and the images it saw."""

    __name__ = "pool4"

    def __init__(self):
        self.calls, self.images = 0, 0
        self.projection = np.random.default_rng(7).normal(size=(16, NUM_CLASSES)) * 4.0

    def __call__(self, images):
        images = np.asarray(images, np.float32).mean(axis=-1)
        self.calls += 1
        self.images += len(images)
        n, r = images.shape[0], images.shape[1]
        pooled = images.reshape(n, 4, r // 4, 4, r // 4).mean(axis=(2, 4)).reshape(n, 16)
        return pooled, pooled @ self.projection


class TFFeatures(Features):
    """`Features` in TensorFlow ops, so that it also runs in a replica of a strategy."""

    __name__ = "pool4_tf"

    def __call__(self, images):
        images = tf.reduce_mean(tf.convert_to_tensor(images, tf.float32), axis=-1)
        r = images.shape[1]
        pooled = tf.reshape(tf.reduce_mean(tf.reshape(images, [-1, 4, r // 4, 4, r // 4]),
                                           axis=[2, 4]), [-1, 16])
        return pooled, tf.matmul(pooled, tf.constant(self.projection, tf.float32))


def real_arrays(count=80, seed=3, channels=3):
    rng = np.random.default_rng(seed)
    images = np.tanh(rng.normal(size=(count, 32, 32, channels))).astype(np.float32)
    return images, (np.arange(count) % NUM_CLASSES).astype(np.int32)


def expected_latents(num, batch, dim_z, truncation, seed):
    return np.concatenate([
        sampling.truncated_z(min(batch, num - start), dim_z, truncation, (seed, 0, index),
                             mode="hub")
        for index, start in enumerate(range(0, num, batch))])
