"""tfbiggan: BigGAN, BigGAN-deep and Progressive GAN for TensorFlow 2 / Keras 3.

`import tfbiggan` does not import TensorFlow (the commands configure TensorFlow's environment
before its first import). `tfbiggan.GAN` (tfbiggan/gan.py) and the library's modules
(`tfbiggan.models`, `tfbiggan.layers`, ...) are imported on first use (PEP 562).
"""

import importlib

# First, before anything imports TensorFlow: a tfbiggan command (`python -m tfbiggan.X`, a
# `tfbiggan-*` console script) starts quietly; any other import changes nothing.
from tfbiggan import startup as _startup

_startup.prepare_if_command()

__version__ = "0.1.0"

# Library modules reachable as attributes; the commands (train, sample, evaluate, demo) are
# not, since importing them defines their flags.
_SUBMODULES = ("convert", "data", "evaluation", "export", "latents", "layers", "losses",
               "metrics", "models", "regularizers", "sampling", "standing_stats", "training")


def __getattr__(name):
    if name == "GAN":
        from tfbiggan.gan import GAN  # pylint: disable=import-outside-toplevel
        return GAN
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tfbiggan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"GAN", *_SUBMODULES})
