"""The published BigGANs as tfbiggan models: DeepMind's TF-Hub modules, pytorch-pretrained-BigGAN
and BigGAN-PyTorch releases, read by path (reference/pretrained_layouts.md).

    converted = convert.load("biggan-deep-128_1.tar.gz")      # format detected from the files
    images = converted.generator(z, y_one_hot, truncation=0.4)

Files in this package, one job each:
  sources.py            format detection and `load` (the glue)
  hub_module.py         TF1 Hub module directories / archives: variables and graph tensors
  hub_layout.py         the modules' variable names → architecture, checks, state-dict layout
  torch_files.py        PyTorch .pth/.bin (zip and legacy) without torch
  restricted_pickle.py  the pickle reader that constructs only what a state dict needs
  state_files.py        state dicts from .pth/.bin, .npz and .safetensors, by content
  infer.py              BigGAN-PyTorch architecture settings from shapes (+ training settings)
  mapping.py            state dicts → tfbiggan generator / discriminator weights
  verify.py             the converted generator against the source module, on the same inputs
  outputs.py            a converted model as a workdir checkpoint and a .keras file
"""

from tfbiggan.convert.mapping import (  # noqa: F401
    _LinearToNHWC, discriminator_from_biggan_pytorch, generator_from_biggan_deep_hub,
    generator_from_biggan_pytorch)
from tfbiggan.convert.restricted_pickle import UnsafePickleError  # noqa: F401
from tfbiggan.convert.sources import (  # noqa: F401
    BIGGAN_PYTORCH, FORMATS, PRETRAINED_BIGGAN, TF_HUB, Converted, detect_format, load)
from tfbiggan.convert.state_files import read_state_dict  # noqa: F401
