"""Generated images for evaluation: tfbiggan generators and exported modules, seeded latents.

Latents follow the TF-Hub convention z = t · truncated_normal(±2); a generator whose truncation
bank was filled (`tfbiggan.standing_stats.collect_truncation_bank`) also selects its batch-norm
statistics with `truncation=`, as an exported module does.
"""

import weakref

import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import sampling, validation
from tfbiggan.evaluation.replicas import SplitOverReplicas, is_multi_replica

_CLASS_SEED = 1  # Second seed component of the class draws; latents use (seed, 0, batch).
_FORWARD = weakref.WeakKeyDictionary()  # generator → its compiled inference call.


def is_exported_module(source):
    """True for a module loaded from an export, False for a tfbiggan generator."""
    return hasattr(source, "signatures") and not hasattr(source, "get_config")


def bank_is_filled(generator):
    """True when `generator` has a truncation bank holding collected statistics."""
    from tfbiggan.layers import normalization  # pylint: disable=import-outside-toplevel
    return normalization.truncation_bank_is_filled(generator)


def source_info(source):
    """(dim_z, num_classes, resolution) of a tfbiggan generator or an exported module."""
    if is_exported_module(source):
        return (int(source.dim_z.numpy()), int(source.num_classes.numpy()),
                int(source.resolution.numpy()))
    return int(source.dim_z), int(source.num_classes), int(source.resolution)


def _generator_forward(source, strategy, use_bank):
    """The inference call of a tfbiggan generator, compiled once per (generator, strategy,
    bank use): fn(z, class ids[, truncation column]) → images."""
    by_key = _FORWARD.setdefault(source, {})
    split = is_multi_replica(strategy)
    key = (strategy if split else None, use_bank)
    forward = by_key.get(key)
    if forward is None:
        generator = weakref.ref(source)  # A strong reference would keep the key alive.
        if use_bank:  # The truncation rides along as a per-example column: every argument is a
            # batch, so it can be split over replicas like z and the labels.
            def fn(z, labels, t):
                return generator()(z, labels, training=False, truncation=t[0])
        else:
            def fn(z, labels):
                return generator()(z, labels, training=False)
        forward = (SplitOverReplicas(fn, strategy) if split
                   else tf.function(fn, reduce_retracing=True))
        by_key[key] = forward
    return forward


def _runner(source, truncation, strategy=None):
    """fn(z, class ids) → NumPy images for one truncation."""
    if is_exported_module(source):
        num_classes = int(source.num_classes.numpy())
        t = tf.constant(truncation, tf.float32)
        return lambda z, labels: np.asarray(source(z, sampling.one_hot(labels, num_classes), t))
    use_bank = bank_is_filled(source)
    if not use_bank:
        logging.info("%s has no filled truncation bank: sampling with its current batch-norm "
                     "statistics (the truncation scales z only).", source.name)
    forward = _generator_forward(source, strategy, use_bank)

    def run(z, labels):
        args = [np.asarray(z, np.float32), np.asarray(labels, np.int32)]
        if use_bank:
            args.append(np.full(len(args[0]), truncation, np.float32))
        return np.asarray(forward(*args))

    return run


def _class_ids(classes, num_samples, num_classes, seed):
    if classes is None:
        return sampling.sample_classes(num_samples, num_classes, (seed, _CLASS_SEED))
    labels = np.asarray(classes)
    if labels.ndim == 0:
        labels = np.full(num_samples, labels)
    if (labels.shape != (num_samples,) or not np.issubdtype(labels.dtype, np.integer)
            or np.any(labels < 0) or np.any(labels >= num_classes)):
        raise ValueError(f"`classes` must be None, one class id or {num_samples} class ids in "
                         f"[0, {num_classes}), got {np.asarray(classes)!r:.200}.")
    return labels.astype(np.int32)


def balanced_classes(num_samples, num_classes):
    """Class ids 0, 1, …, K−1, 0, 1, … [num_samples] (int32): every class equally often."""
    return (np.arange(num_samples) % num_classes).astype(np.int32)


def iter_samples(generator_or_module, num_samples, batch_size=100, truncation=1.0, seed=0,
                 classes=None, log_every=10, strategy=None):
    """Yields (images float32 [B, R, R, C], class ids int32 [B]) batches; see `sample_images`.

    With a multi-replica `strategy`, each batch of a tfbiggan generator is split over the
    replicas (the same images as on one device)."""
    num_samples = validation.positive_int("num_samples", num_samples)
    batch_size = validation.positive_int("batch_size", batch_size)
    truncation = sampling.check_truncation(truncation, "hub")
    dim_z, num_classes, _ = source_info(generator_or_module)
    labels = _class_ids(classes, num_samples, num_classes, seed)
    run = _runner(generator_or_module, truncation, strategy)
    for index, start in enumerate(range(0, num_samples, batch_size)):
        count = min(batch_size, num_samples - start)
        z = sampling.truncated_z(count, dim_z, truncation, (seed, 0, index), mode="hub")
        batch_labels = labels[start:start + count]
        yield np.asarray(run(z, batch_labels), np.float32), batch_labels
        if (index + 1) % log_every == 0 or start + count == num_samples:
            logging.info("Generated %d / %d samples (truncation %g).", start + count,
                         num_samples, truncation)


def sample_images(generator_or_module, num_samples, batch_size=100, truncation=1.0, seed=0,
                  classes=None):
    """Samples images from a tfbiggan generator or an exported module.

    Batch b uses z = `sampling.truncated_z(B, dim_z, truncation, (seed, 0, b), mode="hub")`
    (the TF-Hub convention). A generator with a filled truncation bank, and every exported
    module, also takes the batch-norm statistics for `truncation` from the bank; other
    generators use their current (standing or moving) statistics.

    Args:
      generator_or_module: a tfbiggan generator or a module loaded with `hub.load` /
        `tf.saved_model.load` from `export.export_hub`.
      num_samples: number of images.
      batch_size: images per generator call.
      truncation: truncation in (0, 1].
      seed: seed of latents and (when `classes` is None) classes.
      classes: None (uniform random classes), one class id, or [num_samples] class ids.

    Returns:
      (images float32 [N, R, R, C] in [-1, 1], class ids int32 [N]).

    Example:
      >>> images, labels = sample_images(generator, 64, batch_size=32, truncation=0.5, seed=0)
    """
    batches = list(iter_samples(generator_or_module, num_samples, batch_size, truncation,
                                seed, classes))
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
