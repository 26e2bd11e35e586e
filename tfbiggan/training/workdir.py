"""The layout of a training workdir, shared by the trainer, sampling, evaluation and export.

    WORKDIR/config.json          the experiment config, the serialized models and the class
                                 names of the data ({"config": {...}, "generator": {...},
                                 "discriminator": {...}, "class_names": [...] or null})
    WORKDIR/checkpoints/ckpt-N   tf.train.Checkpoint with objects: step, generator,
                                 discriminator, ema_generator, g_optimizer, d_optimizer, ...
    WORKDIR/metrics.jsonl        one JSON object per logged step
    WORKDIR/summaries/           TensorBoard event files
"""

import collections
import json
import os

import keras
import tensorflow as tf

import tfbiggan.models  # noqa: F401  (registers the model classes for deserialisation)
from tfbiggan import files
from tfbiggan.training import checkpoints

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
SUMMARY_DIR = "summaries"


def checkpoint_dir(workdir):
    return os.path.join(workdir, CHECKPOINT_DIR)


def write_config(workdir, config_dict, generator, discriminator, class_names=None):
    """Writes config.json atomically (write to a temporary file, then rename).

    Args:
      workdir: the run's directory (created if needed).
      config_dict: the experiment config as a dict.
      generator, discriminator: the models, stored serialized.
      class_names: names of the classes (index = class id), e.g. from
        `tfbiggan.data.class_names`, or None when the data has none.
    """
    os.makedirs(workdir, exist_ok=True)
    payload = {"config": config_dict,
               "generator": keras.saving.serialize_keras_object(generator),
               "discriminator": keras.saving.serialize_keras_object(discriminator),
               "class_names": None if class_names is None else [str(n) for n in class_names]}
    with files.atomic_write(os.path.join(workdir, CONFIG_FILE)) as f:
        json.dump(payload, f, indent=1, sort_keys=True, default=str)


def class_names(payload):
    """The class names recorded in a parsed config.json (see `write_config`), or None.

    Workdirs whose config carries `class_names` itself are read too.

    Example:
      >>> class_names(read_config("/runs/fashion"))
      ['T-shirt/top', 'Trouser', ...]
    """
    names = payload.get("class_names")
    if names is None:
        names = (payload.get("config") or {}).get("class_names")
    return [str(name) for name in names] if names else None


def read_config(workdir):
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise ValueError(f"{workdir!r} is not a tfbiggan workdir: {CONFIG_FILE} is missing "
                         f"(train with `python -m tfbiggan.train --workdir=...` first).")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_model(serialized):
    """Rebuilds a model (without weights) from its serialized form in config.json."""
    return keras.saving.deserialize_keras_object(serialized)


def checkpoint_path(workdir, step=None):
    """The checkpoint prefix for `step` (None = the latest)."""
    directory = checkpoint_dir(workdir)
    if step is None:
        path = tf.train.latest_checkpoint(directory)
        if path is None:
            raise ValueError(f"no checkpoint in {directory!r}.")
        return path
    state = tf.train.get_checkpoint_state(directory)
    candidates = list(state.all_model_checkpoint_paths) if state else []
    for path in candidates:
        if _step_of(path) == step:
            return path
    available = sorted(_step_of(p) for p in candidates)
    raise ValueError(f"no checkpoint for step {step} in {directory!r}; available steps: "
                     f"{available}.")


def _step_of(path):
    return int(path.rsplit("-", 1)[-1])


RestoredGenerator = collections.namedtuple("RestoredGenerator",
                                           ["generator", "step", "payload", "path"])


def restore_ema_generator(workdir, step=None, fallback=True):
    """Restores the EMA generator of a workdir from its newest readable checkpoint.

    Args:
      workdir: a training workdir.
      step: the checkpoint step (None: the newest readable one). A damaged checkpoint of
        this step is an error; another step is never substituted.
      fallback: when the latest checkpoint cannot be read, report it (by name) and use the
        next older readable one; False makes it an error (`checkpoints.CheckpointReadError`).

    Returns:
      RestoredGenerator(generator, step, payload, path): payload is the parsed config.json,
      path the checkpoint prefix restored. Every variable of the generator is restored.

    Example:
      >>> generator, step, payload, path = restore_ema_generator("/runs/digits")
    """
    payload = read_config(workdir)
    generator = build_model(payload["generator"])
    step_variable = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(ema_generator=generator, step=step_variable)
    directory = checkpoint_dir(workdir)
    restored = checkpoints.restore(checkpoint, directory, step=step, fallback=fallback,
                                   expect_partial=True, fallback_option="--checkpoint_fallback")
    if restored is None:
        raise ValueError(f"no checkpoint in {directory!r}.")
    return RestoredGenerator(generator, int(step_variable.numpy()), payload, restored.path)


def load_ema_generator(workdir, step=None, fallback=True):
    """Restores the EMA generator of a workdir (see `restore_ema_generator`).

    Returns (generator, step, payload) where payload is the parsed config.json.

    Example:
      >>> generator, step, payload = load_ema_generator("/runs/digits")
    """
    generator, restored_step, payload, _ = restore_ema_generator(workdir, step, fallback)
    return generator, restored_step, payload
