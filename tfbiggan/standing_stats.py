"""Standing statistics and the truncation-indexed statistics bank (Brock et al. 2019, App. C.1).

Before sampling, the paper runs the generator in training mode over many batches and stores,
in every batch norm, the exact mean of the batch moments ("standing statistics"). The
statistics depend on the latent distribution, so the export collects them at a grid of
truncation values t_k = k / (K − 1) and stores row k of each layer's bank; t = 0 means z = 0.

During collection each spectral-norm layer (and any other non-statistics state) is reset to
its value before every batch, so every batch sees exactly the normalised weights that
inference uses, and the procedure changes only the batch-norm statistics.
"""

import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import latents, validation
from tfbiggan.layers import normalization

_STATISTICS = ("moving_mean", "moving_variance", "standing_mean_sum", "standing_variance_sum",
               "standing_count", "bank_mean", "bank_variance")


def standing_batch(dim_z, num_classes, batch_size, truncation, seed, index, mode="hub"):
    """The (z, class ids) of batch `index` of a standing-statistics collection.

    z follows `latents.truncated_z(batch_size, dim_z, truncation, (seed, index, 0), mode)`;
    truncation 0 gives z = 0. Classes are uniform with seed (seed, index, 1).

    Example:
      >>> z, labels = standing_batch(120, 1000, 16, 0.5, seed=0, index=3)
    """
    if truncation == 0:
        z = np.zeros((batch_size, dim_z), np.float32)
    else:
        z = latents.truncated_z(batch_size, dim_z, truncation, (seed, index, 0), mode)
    labels = latents.sample_classes(batch_size, num_classes, (seed, index, 1))
    return z, labels


def _other_state(generator, bn_layers):
    statistics = {id(getattr(layer, name)) for layer in bn_layers for name in _STATISTICS
                  if hasattr(layer, name)}
    return [v for v in generator.non_trainable_variables if id(v) not in statistics]


class _Collector:
    """Runs training-mode forward passes that accumulate standing statistics."""

    def __init__(self, generator, batch_size, jit_compile):
        self.generator = generator
        self.layers = normalization.batch_norm_layers(generator)
        if not self.layers:
            raise ValueError(f"{generator.name} has no tfbiggan batch-norm layer; standing "
                             f"statistics need ConditionalBN / StandingBatchNorm layers.")
        self.batch_size = validation.positive_int("batch_size", batch_size)
        state = _other_state(generator, self.layers)
        saved = [tf.constant(v.numpy()) for v in state]

        def step(z, labels):
            generator(z, labels, training=True)
            for variable, value in zip(state, saved):
                variable.assign(value)
            return tf.constant(0)

        # Built inside `accumulate_standing_statistics`: the flag is read when tracing.
        self.step = tf.function(step, jit_compile=jit_compile)

    def run(self, num_batches, truncation, seed, mode):
        for layer in self.layers:
            layer.reset_standing_statistics()
        for index in range(num_batches):
            z, labels = standing_batch(self.generator.dim_z, self.generator.num_classes,
                                       self.batch_size, truncation, seed, index, mode)
            self.step(tf.constant(z), tf.constant(labels))


def _check_common(num_batches, truncation, mode):
    num_batches = validation.positive_int("num_batches", num_batches)
    validation.one_of("mode", mode, latents.MODES)
    if truncation != 0:
        latents.check_truncation(truncation, mode)
    return num_batches


def collect_standing_statistics(generator, num_batches, batch_size, truncation=1.0, seed=0,
                                mode="hub", jit_compile=False):
    """Stores in every batch norm of `generator` the mean of its batch moments over
    `num_batches` training-mode passes on fresh truncated z and uniform random classes.

    Afterwards inference without a `truncation` argument uses these statistics.

    Args:
      generator: a tfbiggan generator (BigGAN or BigGAN-deep).
      num_batches: forward passes to average over.
      batch_size: samples per pass (the batch size affects the moments: use the sampling one).
      truncation: truncation of the latents (0 = z fixed to 0).
      seed: seed of latents and classes (see `standing_batch`).
      mode: truncation convention, "hub" or "resample".
      jit_compile: compile the forward pass with XLA.

    Returns:
      The batch-norm layers that were updated (none for a generator without tfbiggan batch
      norms, e.g. ProGAN's pixel-norm generators: there is nothing to collect).

    Example:
      >>> collect_standing_statistics(generator, num_batches=16, batch_size=64,
      ...                             truncation=0.5)
      >>> images = generator(z, y)   # uses the standing statistics
    """
    num_batches = _check_common(num_batches, truncation, mode)
    if not normalization.batch_norm_layers(generator):
        logging.info("%s has no batch norm: no standing statistics to collect.",
                     generator.name)
        return []
    with normalization.accumulate_standing_statistics(generator) as layers:
        collector = _Collector(generator, batch_size, jit_compile)
        collector.run(num_batches, truncation, seed, mode)
    logging.info("Collected standing statistics of %d batch norms over %d batches of %d "
                 "(truncation %g, mode %s).", len(layers), num_batches, batch_size,
                 truncation, mode)
    return layers


def bank_truncations(num_rows):
    """The truncation values t_k = k / (K − 1) of the bank rows."""
    num_rows = validation.positive_int("num_rows", num_rows)
    if num_rows < 2:
        raise ValueError(f"a truncation bank has at least 2 rows, got {num_rows}.")
    return np.arange(num_rows) / (num_rows - 1)


def collect_truncation_bank(generator, num_batches, batch_size, seed=0, mode="hub",
                            jit_compile=False):
    """Fills every row k of every batch norm's truncation bank with the standing statistics
    collected at t_k = k / (K − 1) (t_0 = 0: z = 0).

    The standing statistics present before the call are restored afterwards, so inference
    without `truncation` is unchanged.

    Args:
      generator: a tfbiggan generator with `num_truncation_stats` >= 2.
      num_batches, batch_size, seed, mode, jit_compile: as for
        `collect_standing_statistics`; every row uses the same seed.

    Returns:
      The truncation values of the rows.

    Example:
      >>> collect_truncation_bank(generator, num_batches=8, batch_size=64)
      >>> images = generator(z, y, truncation=0.4)   # interpolates rows 0.38 and 0.4
    """
    rows = getattr(generator, "num_truncation_stats", 0)
    if not rows:
        raise ValueError(f"{generator.name} has no truncation bank (num_truncation_stats="
                         f"{rows!r}); build it with num_truncation_stats >= 2, e.g. 51.")
    truncations = bank_truncations(rows)
    num_batches = _check_common(num_batches, 1.0, mode)
    layers = normalization.batch_norm_layers(generator)
    previous = [(layer.standing_mean_sum.numpy(), layer.standing_variance_sum.numpy(),
                 layer.standing_count.numpy()) for layer in layers]
    with normalization.accumulate_standing_statistics(generator):
        collector = _Collector(generator, batch_size, jit_compile)
        for row, truncation in enumerate(truncations):
            collector.run(num_batches, float(truncation), seed, mode)
            for layer in layers:
                layer.store_standing_in_bank(row)
    for layer, (mean_sum, variance_sum, count) in zip(layers, previous):
        layer.standing_mean_sum.assign(mean_sum)
        layer.standing_variance_sum.assign(variance_sum)
        layer.standing_count.assign(count)
    logging.info("Filled a %d-row truncation bank in %d batch norms (%d batches of %d per "
                 "row).", rows, len(layers), num_batches, batch_size)
    return truncations
