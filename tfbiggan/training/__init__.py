"""Training: the single-replica step, the trainer around it, configs and the workdir layout.

`Trainer` (from `tfbiggan.training.trainer`) and `train` (from `tfbiggan.training.launch`,
which picks the trainer of `training.mode`) are loaded on first use, so that
importing a light submodule (e.g. `tfbiggan.training.defaults` from a config file) does not
load the whole trainer.

Example:
  >>> from tfbiggan import training
  >>> trainer = training.Trainer(config, "/tmp/run")
"""

import importlib

_LAZY = {"Trainer": "tfbiggan.training.trainer", "train": "tfbiggan.training.launch"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
