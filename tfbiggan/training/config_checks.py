"""Checks of an experiment config before anything is built: each bad value gets a message that
names the field, the value and what is accepted."""

import numbers

from tfbiggan import losses
from tfbiggan.models import presets
from tfbiggan.training import init_from

_POSITIVE_INTS = ("training.steps", "training.batch_size", "training.accumulation_steps",
                  "training.num_d_steps", "checkpoint.every", "checkpoint.keep", "log.every")
_NON_NEGATIVE_INTS = ("training.ema_start", "log.sample_every", "log.singular_values_every",
                      "seed")
_POSITIVE_FLOATS = ("training.g_lr", "training.d_lr", "training.adam_eps")
_NON_NEGATIVE_FLOATS = ("training.gp_lambda", "training.r1_gamma", "training.ortho_beta")
_UNIT_INTERVAL = ("training.beta1", "training.beta2", "training.ema_decay")
NONFINITE_MODES = ("stop", "skip")


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
    # Configs written before `training.nonfinite` existed stop, as they always did.
    nonfinite = config.training.get("nonfinite", "stop")
    if nonfinite not in NONFINITE_MODES:
        raise ValueError(f"config field `training.nonfinite` must be one of "
                         f"{list(NONFINITE_MODES)}, got {nonfinite!r}.")
    checkpoint = config.checkpoint
    every_secs = checkpoint.get("every_secs", 0.0)
    if not _is_number(every_secs) or every_secs < 0:
        raise ValueError(f"config field `checkpoint.every_secs` must be a number >= 0 (0: no "
                         f"time-based checkpoints), got {every_secs!r}.")
    fallback = checkpoint.get("fallback", True)
    if not isinstance(fallback, bool):
        raise ValueError(f"config field `checkpoint.fallback` must be True or False, "
                         f"got {fallback!r}.")
    _check_improved_techniques(config)
    _check_augment_and_channels(config)
    init_from.check_config(config)


# DiffAugment and image channels ---------------------------------------------------------------

_CHANNEL_ARGUMENTS = ("out_channels", "output_channels", "in_channels", "input_channels")


def _check_augment_and_channels(config):
    import inspect  # pylint: disable=import-outside-toplevel
    from tfbiggan import augment  # pylint: disable=import-outside-toplevel
    policy = config.training.get("augment", "")
    try:
        augment.parse_policy(policy)
    except ValueError as error:
        raise ValueError(f"config field `training.augment`: {error}") from None
    pipeline = config.data.get("pipeline") if "data" in config else None
    if pipeline is None or "channels" not in pipeline:
        return
    channels = pipeline.channels
    preset = presets.PRESETS[config.model.preset]
    overrides = config.model.get("overrides", {})
    for model, cls in zip(("generator", "discriminator"), presets._FAMILIES[preset["family"]]):  # pylint: disable=protected-access
        parameters = inspect.signature(cls.__init__).parameters
        for argument in _CHANNEL_ARGUMENTS:
            if argument not in parameters:
                continue
            value = overrides.get(argument) if argument in overrides else None
            if value is None:
                value = preset[model].get(argument, parameters[argument].default)
            if value != channels:
                raise ValueError(
                    f"config field `data.pipeline.channels` is {channels} but the {model}'s "
                    f"`{argument}` is {value}; set --config.model.overrides.{argument}="
                    f"{channels} (or --config.data.pipeline.channels={value}).")


# Improved Techniques, semi-supervised mode and progressive growing ---------------------------

MODES = ("gan", "semi_supervised")
FEATURE_MATCHING = ("off", "replace", "add")


def _check_improved_techniques(config):
    training = config.training
    mode = training.get("mode", "gan")
    if mode not in MODES:
        raise ValueError(f"config field `training.mode` must be one of {list(MODES)}, "
                         f"got {mode!r}.")
    matching = training.get("feature_matching", "off")
    if matching not in FEATURE_MATCHING:
        raise ValueError(f"config field `training.feature_matching` must be one of "
                         f"{list(FEATURE_MATCHING)}, got {matching!r}.")
    for field in ("historical_averaging_g", "historical_averaging_d"):
        value = training.get(field, 0.0)
        if not _is_number(value) or value < 0:
            raise ValueError(f"config field `training.{field}` must be a number >= 0, "
                             f"got {value!r}.")
    family = presets.PRESETS[config.model.preset]["family"]
    grow = config.get("progressive")
    if grow is not None and grow.enabled:
        if family != "progan":
            raise ValueError(f"config field `progressive.enabled` needs a ProGAN preset "
                             f"(family 'progan'), got `model.preset` {config.model.preset!r}.")
        for field in ("stabilize_images", "fade_images"):
            if not _is_int(grow[field]) or grow[field] < 1:
                raise ValueError(f"config field `progressive.{field}` must be a positive "
                                 f"integer, got {grow[field]!r}.")
        stages = presets.PRESETS[config.model.preset]["generator"]["resolution"].bit_length() - 2
        sizes = tuple(grow.batch_sizes)
        if sizes and (len(sizes) != stages or not all(_is_int(b) and b >= 1 for b in sizes)):
            raise ValueError(f"config field `progressive.batch_sizes` must be () or {stages} "
                             f"positive integers (one per stage, 4×4 first), got {sizes!r}.")
    if mode == "semi_supervised":
        semi = config.semi_supervised
        if family != "progan" or not presets.PRESETS[config.model.preset]["discriminator"].get(
                "class_logits") and not config.model.overrides.get("class_logits"):
            raise ValueError(f"config field `model.preset` {config.model.preset!r} has no "
                             f"class-logit discriminator; `training.mode` 'semi_supervised' "
                             f"accepts a ProGAN preset with class_logits, e.g. "
                             f"'progan_semisupervised_digits_32'.")
        for field in ("labels_per_class", "labeled_batch_size"):
            if not _is_int(semi[field]) or semi[field] < 1:
                raise ValueError(f"config field `semi_supervised.{field}` must be a positive "
                                 f"integer, got {semi[field]!r}.")
        if semi.labeled_batch_size >= training.batch_size:
            raise ValueError(f"config field `semi_supervised.labeled_batch_size` "
                             f"({semi.labeled_batch_size}) must be smaller than "
                             f"`training.batch_size` ({training.batch_size}).")
        if not _is_number(semi.class_weight) or semi.class_weight < 0:
            raise ValueError(f"config field `semi_supervised.class_weight` must be a number "
                             f">= 0, got {semi.class_weight!r}.")
