"""Shared pieces of the training tests: tiny configs, toy models, data layout and snapshots."""


import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tests import conftest
from tfbiggan.training import defaults

DIGITS_CONFIG = conftest.REPO_ROOT / "configs" / "digits.py"

# Command-line overrides that shrink configs/digits.py to a model that trains in seconds.
TINY_FLAGS = (
    "--config.model.overrides.ch=4",
    "--config.model.overrides.num_truncation_stats=0",
    "--config.data.pipeline.shuffle_buffer=16",
    "--config.training.batch_size=4",
    "--config.training.num_d_steps=1",
    "--config.training.jit_compile=False",
    "--config.log.every=1",
    "--config.log.sample_every=0",
    "--config.log.singular_values_every=0",
    "--noprogress",
)




def two_replica_strategy():
    """The two-replica strategy of `tests/conftest.py` (collective keys of its own)."""
    return conftest.two_replica_strategy()


def digits_config():
    """The config of configs/digits.py (which returns `defaults.digits_config()`)."""
    return defaults.digits_config()


def tiny_config(**training):
    """configs/digits.py with a ch-4 model, batch 4 and no periodic samples; `training`
    overrides fields of the `training` section."""
    config = digits_config()
    config.model.overrides.ch = 4
    config.model.overrides.num_truncation_stats = 0
    config.data.pipeline.shuffle_buffer = 16
    config.training.batch_size = 4
    config.training.steps = 2
    config.training.jit_compile = False
    # Adam's step g / (sqrt(v) + ε) amplifies float rounding of near-zero gradients when ε is
    # tiny; comparisons of two equivalent computations need the default ε.
    config.training.adam_eps = 1e-6
    config.checkpoint.every = 1000
    config.log.every = 1
    config.log.sample_every = 0
    config.log.singular_values_every = 0
    for key, value in training.items():
        config.training[key] = value
    return config


def snapshot(model):
    """[(path, float64 copy)] of every weight of a model, in `model.weights` order."""
    return [(w.path, np.array(w.numpy(), dtype=np.float64)) for w in model.weights]


# Adam's ε for tests that compare two equivalent computations of the trainer (XLA against
# graph, two replicas against one). The biases of a BigGAN generator block's convolutions feed
# batch norms only, so their gradient is zero up to float rounding: about 1e-5 here, against 10
# to 100 for the other generator weights. With ε = 1e-6, Adam turns that rounding into steps of
# up to ~1.4 · lr whose sign two equivalent computations need not share; with ε = 1e-2 those
# steps stay below 1e-6, while the other weights' gradients remain far above ε.
COMPARISON_ADAM_EPS = 1e-2


def assert_snapshots_close(actual, expected, atol, rtol=0.0, what=""):
    assert len(actual) == len(expected), what
    for (path, a), (other, e) in zip(actual, expected):
        assert path == other, (what, path, other)
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=f"{what} {path}")


def replica_copies(variable):
    """NumPy values of every replica's copy of a (Keras or tf) variable."""
    value = getattr(variable, "value", variable)
    if hasattr(value, "values"):  # A distributed variable.
        return [np.array(v.numpy()) for v in value.values]
    return [np.array(variable.numpy())]


def arrange(images, labels, num_d_steps, accumulation_steps, global_batch, replicas):
    """Per-replica inputs of one iteration such that every D update sees the same examples.

    `images` holds num_d_steps × effective-batch examples in update order (effective batch =
    global_batch × accumulation_steps). Replica r gets, for each D update d and sub-step a,
    the slice [d·E + a·G + r·b, +b) with b = G / replicas: the layout of the latent draws.
    """
    effective = global_batch * accumulation_steps
    per_replica = global_batch // replicas
    out_images, out_labels = [], []
    for r in range(replicas):
        idx = np.concatenate([
            np.arange(d * effective + a * global_batch + r * per_replica,
                      d * effective + a * global_batch + (r + 1) * per_replica)
            for d in range(num_d_steps) for a in range(accumulation_steps)])
        out_images.append(images[idx])
        out_labels.append(labels[idx])
    return out_images, out_labels


def random_batch(count, resolution, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, (count, resolution, resolution, 3)).astype(np.float32)
    labels = rng.integers(0, num_classes, count).astype(np.int32)
    return images, labels


def distributed_iterator(strategy, per_replica_images, per_replica_labels):
    """An endless iterator over a distributed dataset that gives replica r its arrays.

    One input pipeline feeds the replicas consecutive elements, so element r goes to replica r.
    """
    images = np.stack(per_replica_images)
    labels = np.stack(per_replica_labels)

    def dataset_fn(_):
        return tf.data.Dataset.from_tensor_slices((images, labels)).repeat()

    return iter(strategy.distribute_datasets_from_function(dataset_fn))


# Toy models: no batch norm and no spectral norm, so an iteration's math is exact per example.

class ToyGenerator(keras.Model):
    """(z, classes) -> tanh images [B, R, R, 3]. Records the latents it sees when run eagerly
    (set `seen = []`)."""

    def __init__(self, dim_z=6, num_classes=3, resolution=4, **kwargs):
        super().__init__(**kwargs)
        self.dim_z, self.num_classes, self.resolution = dim_z, num_classes, resolution
        self.embedding = keras.layers.Embedding(num_classes, 4, name="embedding")
        self.dense = keras.layers.Dense(resolution * resolution * 3, activation="tanh", name="dense")
        self.seen = None

    def call(self, z, y, training=False):
        if self.seen is not None and tf.executing_eagerly():
            self.seen.append((np.array(z), np.array(y)))
        h = ops.concatenate([z, self.embedding(y)], axis=-1)
        return ops.reshape(self.dense(h), (-1, self.resolution, self.resolution, 3))


class ToyDiscriminator(keras.Model):
    """Images and classes -> logits [B] (a hidden tanh layer plus a class projection).
    Counts its calls."""

    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="tanh", name="hidden")
        self.out = keras.layers.Dense(1, name="out")
        self.embedding = keras.layers.Embedding(num_classes, 8, name="embedding")
        self.calls = 0

    def call(self, x, y, training=False):
        self.calls += 1
        h = self.hidden(ops.reshape(x, (-1, int(np.prod(x.shape[1:])))))
        return self.out(h)[:, 0] + ops.sum(self.embedding(y) * h, axis=-1)


def toy_models(seed=0, resolution=4, num_classes=3, dim_z=6):
    """Built (generator, discriminator) with weights fixed by `seed`."""
    keras.utils.set_random_seed(seed)
    generator = ToyGenerator(dim_z, num_classes, resolution, name="toy_generator")
    discriminator = ToyDiscriminator(num_classes, name="toy_discriminator")
    z = np.zeros((2, dim_z), np.float32)
    y = np.zeros((2,), np.int32)
    discriminator(generator(z, y), y)
    return generator, discriminator
