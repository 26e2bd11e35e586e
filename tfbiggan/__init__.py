"""tfbiggan: BigGAN, BigGAN-deep and Progressive GAN for TensorFlow 2 / Keras 3."""

# First, before anything imports TensorFlow: a tfbiggan command (`python -m tfbiggan.X`, a
# `tfbiggan-*` console script) starts quietly; any other import changes nothing.
from tfbiggan import startup as _startup

_startup.prepare_if_command()

__version__ = "0.1.0"
