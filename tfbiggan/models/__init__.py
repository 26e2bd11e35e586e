"""tfbiggan models: BigGAN, BigGAN-deep and Progressive GAN, and named presets."""

from tfbiggan.models.biggan import BigGANDiscriminator, BigGANGenerator
from tfbiggan.models.biggan_deep import BigGANDeepDiscriminator, BigGANDeepGenerator
from tfbiggan.models.presets import from_preset, list_presets, preset_parameter_counts
from tfbiggan.models.progan import ProGANDiscriminator, ProGANGenerator
