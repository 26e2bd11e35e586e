"""The converted generator against what it was converted from, on the same inputs.

A TF1 Hub module runs here through `hub.load` (its "default" signature), so a conversion from
a module can be checked end to end; PyTorch sources cannot run without torch. The same
comparison checks an exported tfbiggan module.

Inputs follow the modules' examples: z = t · truncated_normal(±2) and one-hot classes, plus one
mixture of two classes.

Example:
  >>> compare(converted.generator, "biggan-deep-128", truncations=(0.4, 1.0))
  [{'truncation': 0.4, 'max_abs_error': 4.2e-07, 'statistics': 'bank'}, ...]
"""

import numpy as np
import tensorflow as tf

from tfbiggan import sampling


def inputs(generator, truncation, batch=4, seed=0):
    """(z, y one-hot [B, K] with a two-class mixture in row 0) for one truncation."""
    z = sampling.truncated_z(batch, generator.dim_z, truncation, seed, mode="hub")
    rng = np.random.default_rng(seed)
    y = np.eye(generator.num_classes, dtype=np.float32)[
        rng.integers(0, generator.num_classes, batch)]
    if generator.num_classes > 1:
        y[0] = 0.0
        y[0, :2] = 0.5
    return z, y


def _signature(path):
    import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel
    module = hub.load(path)
    signature = module.signatures["default"]
    return lambda z, y, t: signature(  # noqa: E731
        z=tf.constant(z), y=tf.constant(y), truncation=tf.constant(t, tf.float32))["default"]


def compare(generator, path, truncations=(0.4, 1.0), batch=4, seed=0, use_bank=True):
    """Max |module − generator| per truncation, the module at `path` run through `hub.load`.

    Args:
      generator: the tfbiggan generator.
      path: a TF-Hub module (a DeepMind TF1 module or a tfbiggan export).
      truncations: values in (0, 1].
      batch, seed: the inputs (see `inputs`).
      use_bank: call the generator with `truncation` (its bank); False calls it without
        (its stored statistics), which is what a BigGAN (not deep) conversion from a module
        keeps from the module.

    Returns:
      [{"truncation", "max_abs_error", "statistics": "bank" or "stored"}].
    """
    module = _signature(path)
    results = []
    for truncation in truncations:
        z, y = inputs(generator, truncation, batch, seed)
        expected = module(z, y, truncation).numpy()
        actual = generator(z, y, training=False,
                           truncation=truncation if use_bank else None).numpy()
        if expected.shape != actual.shape:
            raise ValueError(f"the module at {path} returns shape {expected.shape}, the "
                             f"generator {actual.shape}.")
        results.append({"truncation": float(truncation),
                        "max_abs_error": float(np.abs(expected - actual).max()),
                        "statistics": "bank" if use_bank else "stored"})
    return results
