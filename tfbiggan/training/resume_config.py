"""Comparing the config of a resumed run with the one its workdir was trained with.

A workdir's `config.json` records the config of the run that wrote it. Resuming with other
model settings cannot work (the checkpoint's weights have other shapes, or other weights), so
before anything is restored every field that decides the checkpoint's contents is compared
and all differences are named with both values:

- everything under `model` (the preset and every override),
- `training.mode` (the semi-supervised discriminator has other weights),
- whether `training.historical_averaging_g` / `_d` is on (the running averages are
  checkpointed only when it is).

Every other field may change on resume (learning rates, steps, batch and loss settings, data,
logging, evaluation, checkpoint cadence, ...): each change is logged, and config.json then
records the new config.

Example:
  >>> incompatible, changed = compare(read_config(workdir)["config"], config.to_dict())
  >>> check(read_config(workdir)["config"], config)     # raises ConfigMismatchError
"""

import json

from absl import logging

FIXED_PREFIXES = ("model.",)
FIXED_FIELDS = ("training.mode",)
SWITCHES = ("training.historical_averaging_g", "training.historical_averaging_d")
_ABSENT = "(absent)"


class ConfigMismatchError(ValueError):
    """The config of a resumed run differs from the workdir's in settings that decide the
    checkpoint's contents; the message names each field with both values."""


def normalise(config):
    """A ConfigDict or dict as plain JSON data (tuples become lists), as config.json has it."""
    data = config.to_dict() if hasattr(config, "to_dict") else config
    return json.loads(json.dumps(data, sort_keys=True, default=str))


def flatten(data, prefix=""):
    """{"a.b.c": value} for every leaf of nested dicts (an empty dict has no leaves)."""
    flat = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _fixed(field):
    return field.startswith(FIXED_PREFIXES) or field in FIXED_FIELDS


def compare(stored, current):
    """Differences between two configs (dicts or ConfigDicts).

    Args:
      stored: the workdir's config (the "config" entry of config.json).
      current: the config of the run that resumes.

    Returns:
      (incompatible, changed): lists of (field, stored value, current value), sorted by
      field. A field missing on one side counts as None there (an unset override), so a
      config.json from before a field existed compares equal while it stays unset.
    """
    old, new = flatten(normalise(stored)), flatten(normalise(current))
    incompatible, changed = [], []
    for field in sorted(set(old) | set(new)):
        before, after = old.get(field, _ABSENT), new.get(field, _ABSENT)
        if (None if before == _ABSENT else before) == (None if after == _ABSENT else after):
            continue
        if _fixed(field):
            incompatible.append((field, before, after))
        elif field in SWITCHES and bool(before not in (_ABSENT, None, 0, 0.0)) != bool(
                after not in (_ABSENT, None, 0, 0.0)):
            incompatible.append((field, before, after))
        else:
            changed.append((field, before, after))
    return incompatible, changed


def _describe(differences, stored_name, current_name):
    return "; ".join(f"{field}: {_show(before)} in {stored_name}, {_show(after)} {current_name}"
                     for field, before, after in differences)


def _show(value):
    return value if value == _ABSENT else repr(value)


def check(stored, current, workdir="the workdir"):
    """Raises ConfigMismatchError naming every incompatible difference; logs the allowed
    ones. Returns the allowed changes (field, stored, current).

    Example:
      >>> check(read_config(workdir)["config"], config, workdir)
    """
    incompatible, changed = compare(stored, current)
    if incompatible:
        raise ConfigMismatchError(
            f"Cannot resume {workdir}: the config differs from the one it was trained with "
            f"(config.json) in settings that decide the checkpoint's weights: "
            f"{_describe(incompatible, 'config.json', 'now')}. Resume with the settings of "
            f"config.json, or train in a new workdir.")
    if changed:
        logging.info("Resuming %s with changed settings: %s.", workdir,
                     _describe(changed, "config.json", "now"))
    return changed
