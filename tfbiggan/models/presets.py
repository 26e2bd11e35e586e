"""Named model configurations with their golden trainable-parameter counts.

`from_preset(name)` returns a built (generator, discriminator) pair. The counts beside each
preset are asserted by the tests (SN vectors and BN statistics are not trainable and are not
counted). The full-size counts are those of the paper / reference implementations.
"""

import inspect

from tfbiggan.models.biggan import BigGANDiscriminator, BigGANGenerator
from tfbiggan.models.biggan_deep import BigGANDeepDiscriminator, BigGANDeepGenerator
from tfbiggan.models.progan_training import ProGANTrainingDiscriminator, ProGANTrainingGenerator

_FAMILIES = {
    "biggan": (BigGANGenerator, BigGANDiscriminator),
    "biggan_deep": (BigGANDeepGenerator, BigGANDeepDiscriminator),
    "progan": (ProGANTrainingGenerator, ProGANTrainingDiscriminator),
}
# BigGAN settings with no ProGAN counterpart (no batch norm; equalised learning rate fixes
# the initialisation at N(0, 1)): dropped for the ProGAN family instead of being an error,
# so family-agnostic callers (e.g. the trainer's synchronized BN on several replicas) work.
_IGNORED = {"progan": ("synchronized_bn", "num_truncation_stats", "kernel_initializer")}


def _preset(family, generator, discriminator, params, description):
    return {"family": family, "generator": generator, "discriminator": discriminator,
            "params": params, "description": description}


def _biggan(resolution, ch, g_attention, d_attention, dim_z, params, description,
            num_classes=1000, **extra):
    generator = dict(resolution=resolution, ch=ch, dim_z=dim_z, num_classes=num_classes,
                     attention=g_attention, **extra)
    discriminator = dict(resolution=resolution, ch=ch, num_classes=num_classes,
                         attention=d_attention)
    return _preset("biggan", generator, discriminator, params, description)


def _deep(resolution, ch, params, description, num_classes=1000, output_conv_channels=None):
    generator = dict(resolution=resolution, ch=ch, num_classes=num_classes,
                     output_conv_channels=output_conv_channels)
    discriminator = dict(resolution=resolution, ch=ch, num_classes=num_classes)
    return _preset("biggan_deep", generator, discriminator, params, description)


def _progan(resolution, latent_dim, fmap_base, fmap_max, params, description, num_classes=10,
            **discriminator_extra):
    """A Progressive GAN pair (models built at stage 0, 4×4; the trainer's schedule grows
    them)."""
    generator = dict(resolution=resolution, latent_dim=latent_dim, num_classes=num_classes,
                     fmap_base=fmap_base, fmap_max=fmap_max)
    discriminator = dict(resolution=resolution, num_classes=num_classes, fmap_base=fmap_base,
                         fmap_max=fmap_max, **discriminator_extra)
    return _preset("progan", generator, discriminator, params, description)


# name: (generator params, discriminator params)
PRESETS = {
    "biggan_32": _preset(
        "biggan",
        dict(resolution=32, ch=64, dim_z=128, num_classes=10, attention=(),
             hierarchical=False, shared_embedding=False, bn_epsilon=1e-5, sn_epsilon=1e-8),
        dict(resolution=32, ch=64, num_classes=10, attention=(), sn_epsilon=1e-8),
        (4_304_387, 4_207_361),
        "CIFAR-10 recipe of BigGAN-PyTorch: ch 64, per-layer class embeddings, no attention."),
    "biggan_64": _biggan(64, 96, (64,), (32,), 120, (70_239_108, 45_511_970),
                         "BigGAN 64×64, ch 96 (no published count; derived from the "
                         "architecture table)."),
    "biggan_128": _biggan(128, 96, (64,), (64,), 120, (70_433_988, 87_982_370),
                          "BigGAN 128×128 (paper): ch 96, z 120, attention at 64."),
    "biggan_256": _biggan(256, 96, (128,), (64,), 140, (82_097_604, 99_225_890),
                          "BigGAN 256×256 (paper): z 140, G attention at 128, D at 64."),
    "biggan_512": _biggan(512, 96, (64,), (64,), 160, (82_468_068, 99_401_282),
                          "BigGAN 512×512 (paper): z 160, attention at 64."),
    "biggan_deep_128": _deep(128, 128, (50_244_484, 34_590_210),
                             "BigGAN-deep 128×128, 3-channel output convolution."),
    "biggan_deep_256": _deep(256, 128, (55_736_708, 38_247_426),
                             "BigGAN-deep 256×256, 3-channel output convolution."),
    "biggan_deep_512": _deep(512, 128, (56_019_780, 38_301_122),
                             "BigGAN-deep 512×512, 3-channel output convolution."),
    "biggan_deep_128_hub": _deep(128, 128, (50_388_609, 34_590_210),
                                 "BigGAN-deep 128×128 in the TF-Hub layout (128-channel "
                                 "output convolution sliced to 3).", output_conv_channels=128),
    "biggan_deep_256_hub": _deep(256, 128, (55_880_833, 38_247_426),
                                 "BigGAN-deep 256×256, TF-Hub layout.",
                                 output_conv_channels=128),
    "biggan_deep_512_hub": _deep(512, 128, (56_163_905, 38_301_122),
                                 "BigGAN-deep 512×512, TF-Hub layout.",
                                 output_conv_channels=128),
    # Small presets for tests, demos and quick experiments.
    "biggan_tiny_32": _biggan(32, 8, (16,), (16,), 128, (96_356, 72_293),
                              "Tiny BigGAN 32×32 (ch 8, 10 classes); matches the "
                              "BigGAN-PyTorch reference fixture.", num_classes=10,
                              shared_dim=16),
    "biggan_tiny_128": _biggan(128, 8, (64,), (64,), 120, (696_980, 602_858),
                               "Tiny BigGAN 128×128 (ch 8, 10 classes).", num_classes=10),
    "biggan_deep_tiny_128": _deep(128, 8, (1_310_409, 130_050),
                                  "Tiny BigGAN-deep 128×128 (ch 8, 10 classes), TF-Hub "
                                  "layout.", num_classes=10, output_conv_channels=8),
    # Progressive GAN (the trainer grows them with the `progressive` config section).
    "progan_digits_32": _progan(32, 64, 256, 64, (278_716, 213_073),
                                "ProGAN 4→32 for the bundled digits: z 64, channels "
                                "64/64/32/16, 10 classes (projection D)."),
    "progan_mini_32": _progan(32, 8, 32, 16, (9_150, 9_183),
                              "Small ProGAN 4→32 (channels 16/8/4/2, 10 classes) for tests."),
    "progan_semisupervised_digits_32": _progan(
        32, 64, 256, 64, (212_540, 213_083),
        "ProGAN-architecture pair for semi-supervised K+1 digits: unconditional G, D with 10 "
        "class logits (fake logit fixed at 0), no growth.", num_classes=0, class_logits=10),
}


def list_presets():
    """Names of the available presets."""
    return sorted(PRESETS)


def preset_parameter_counts(name):
    """The golden (generator, discriminator) trainable-parameter counts of a preset."""
    return _get(name)["params"]


def _get(name):
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; available presets: {list_presets()}.")
    return PRESETS[name]


def from_preset(name, **overrides):
    """Builds the (generator, discriminator) pair of a preset.

    Args:
      name: a name from `list_presets()`.
      **overrides: constructor arguments applied to whichever of the two models accepts them
        (e.g. `num_classes=10` goes to both, `dim_z=128` to the generator).

    Example:
      >>> generator, discriminator = from_preset("biggan_128", num_classes=10)
    """
    preset = _get(name)
    generator_cls, discriminator_cls = _FAMILIES[preset["family"]]
    g_kwargs, d_kwargs = dict(preset["generator"]), dict(preset["discriminator"])
    g_params = inspect.signature(generator_cls.__init__).parameters
    d_params = inspect.signature(discriminator_cls.__init__).parameters
    for key, value in overrides.items():
        if key in _IGNORED.get(preset["family"], ()):
            continue
        if key not in g_params and key not in d_params:
            accepted = sorted((set(g_params) | set(d_params)) - {"self", "kwargs"})
            raise ValueError(f"Unknown override {key!r} for preset {name!r}; accepted: "
                             f"{accepted}.")
        if key in g_params:
            g_kwargs[key] = value
        if key in d_params:
            d_kwargs[key] = value
    return generator_cls(**g_kwargs), discriminator_cls(**d_kwargs)
