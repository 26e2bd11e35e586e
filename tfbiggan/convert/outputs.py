"""A converted BigGAN written the way tfbiggan keeps models: a workdir checkpoint and `.keras`.

    DIR/config.json          {"config": {"converted_from": ...}, "generator": ...,
                              "discriminator": ... or null}, as a training workdir's
    DIR/checkpoints/ckpt-0   step 0; `generator` and `ema_generator` (the same converted EMA
                             weights) and, when the source has one, `discriminator`

so `tfbiggan.training.workdir.load_ema_generator(DIR)`, `python -m export.export_hub
--workdir=DIR`, `python -m tfbiggan.sample --workdir=DIR` and the trainer's `model.init_from`
read it like any run.

Example:
  >>> write_workdir(converted, "/tmp/deep128")
  >>> generator, step, payload = workdir.load_ema_generator("/tmp/deep128")
"""

import json
import os

import keras
import tensorflow as tf

from tfbiggan.training import workdir as workdir_lib


def write_workdir(converted, directory):
    """Writes config.json and checkpoints/ckpt-0 of `converted` into `directory`.

    Args:
      converted: a `tfbiggan.convert.Converted`.
      directory: the workdir (created; must not hold a checkpoint already).

    Returns:
      The checkpoint path.
    """
    os.makedirs(directory, exist_ok=True)
    if tf.train.latest_checkpoint(workdir_lib.checkpoint_dir(directory)):
        raise ValueError(f"{directory} already holds checkpoints; write a conversion into an "
                         f"empty directory.")
    discriminator = converted.discriminator
    payload = {
        "config": {"converted_from": converted.metadata()},
        "generator": keras.saving.serialize_keras_object(converted.generator),
        "discriminator": (None if discriminator is None
                          else keras.saving.serialize_keras_object(discriminator)),
    }
    path = os.path.join(directory, workdir_lib.CONFIG_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=True, default=str)
    os.replace(path + ".tmp", path)
    objects = {"step": tf.Variable(0, dtype=tf.int64, trainable=False),
               "generator": converted.generator, "ema_generator": converted.generator}
    if discriminator is not None:
        objects["discriminator"] = discriminator
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(**objects),
                                         workdir_lib.checkpoint_dir(directory), max_to_keep=1)
    return manager.save(checkpoint_number=0)


def save_keras(model, path):
    """Saves `model` as a `.keras` file (loadable with `keras.saving.load_model` once
    `tfbiggan.models` is imported)."""
    keras.saving.save_model(model, path)
    return path
