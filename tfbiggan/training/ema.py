"""Exponential moving average of the generator (Brock et al. 2019, §3 and App. C)."""

import keras
import tensorflow as tf

from tfbiggan.layers.normalization import batch_norm_layers


def make_ema_generator(generator):
    """A new generator with `generator`'s config and current weights: the EMA generator before
    its first update (create it under the strategy scope that trains `generator`).

    Example:
      >>> ema_generator = make_ema_generator(generator)
      >>> pairs = averaged_pairs(generator, ema_generator)
    """
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(generator))
    clone.set_weights(generator.get_weights())
    return clone


def averaged_pairs(generator, ema_generator):
    """(ema variable, variable) pairs: every weight, BN moving statistics and SN vectors
    included, except the standing-statistics accumulators and the truncation bank, which are
    filled for the EMA generator itself before sampling."""
    skip = set()
    for layer in batch_norm_layers(generator) + batch_norm_layers(ema_generator):
        for name in ("standing_mean_sum", "standing_variance_sum", "standing_count",
                     "bank_mean", "bank_variance"):
            if hasattr(layer, name):
                skip.add(id(getattr(layer, name)))
    pairs = [(e, g) for e, g in zip(ema_generator.weights, generator.weights)
             if id(g) not in skip]
    for ema_variable, variable in pairs:
        if ema_variable.shape != variable.shape:
            raise ValueError(f"EMA generator does not mirror the generator: "
                             f"{ema_variable.path} {ema_variable.shape} vs "
                             f"{variable.path} {variable.shape}.")
    return pairs


def update_ema(pairs, step, decay, start_step):
    """ema ← d·ema + (1 − d)·value with d = decay from `start_step` on, 0 before (a copy).

    Integer variables (if any) are copied.
    """
    effective = tf.where(tf.cast(step, tf.int64) >= start_step, decay, 0.0)
    for ema_variable, variable in pairs:
        value = tf.convert_to_tensor(variable)
        if not value.dtype.is_floating:
            ema_variable.assign(value)
            continue
        d = tf.cast(effective, value.dtype)
        ema_variable.assign(d * tf.convert_to_tensor(ema_variable) + (1.0 - d) * value)
