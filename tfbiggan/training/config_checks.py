"""Checks of an experiment config before anything is built: each bad value gets a message that
names the field, the value and what is accepted."""

import numbers

from tfbiggan import losses
from tfbiggan.models import presets

_POSITIVE_INTS = ("training.steps", "training.batch_size", "training.accumulation_steps",
                  "training.num_d_steps", "checkpoint.every", "checkpoint.keep", "log.every")
_NON_NEGATIVE_INTS = ("training.ema_start", "log.sample_every", "log.singular_values_every",
                      "seed")
_POSITIVE_FLOATS = ("training.g_lr", "training.d_lr", "training.adam_eps")
_NON_NEGATIVE_FLOATS = ("training.gp_lambda", "training.r1_gamma", "training.ortho_beta")
_UNIT_INTERVAL = ("training.beta1", "training.beta2", "training.ema_decay")


def _get(config, dotted):
    value = config
    for part in dotted.split("."):
        if part not in value:
            raise ValueError(f"config field `{dotted}` is missing.")
        value = value[part]
    return value


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check(config):
    """Raises ValueError for the first invalid field of `config`."""
    for field in _POSITIVE_INTS:
        value = _get(config, field)
        if not _is_int(value) or value < 1:
            raise ValueError(f"config field `{field}` must be a positive integer, "
                             f"got {value!r}.")
    for field in _NON_NEGATIVE_INTS:
        value = _get(config, field)
        if not _is_int(value) or value < 0:
            raise ValueError(f"config field `{field}` must be a non-negative integer, "
                             f"got {value!r}.")
    for field in _POSITIVE_FLOATS:
        value = _get(config, field)
        if not _is_number(value) or value <= 0:
            raise ValueError(f"config field `{field}` must be a positive number, got {value!r}.")
    for field in _NON_NEGATIVE_FLOATS:
        value = _get(config, field)
        if not _is_number(value) or value < 0:
            raise ValueError(f"config field `{field}` must be a number >= 0, got {value!r}.")
    for field in _UNIT_INTERVAL:
        value = _get(config, field)
        if not _is_number(value) or not 0 <= value < 1:
            raise ValueError(f"config field `{field}` must be a number in [0, 1), "
                             f"got {value!r}.")
    preset = _get(config, "model.preset")
    if preset not in presets.PRESETS:
        raise ValueError(f"config field `model.preset` {preset!r} is not a preset; accepted: "
                         f"{presets.list_presets()}.")
    loss = _get(config, "training.loss")
    if loss not in losses.list_gan_losses():
        raise ValueError(f"config field `training.loss` {loss!r} is not a loss; accepted: "
                         f"{losses.list_gan_losses()}.")
    sync = _get(config, "training.synchronized_bn")
    if sync not in ("auto", "on", "off"):
        raise ValueError(f"config field `training.synchronized_bn` must be 'auto', 'on' or "
                         f"'off', got {sync!r}.")
