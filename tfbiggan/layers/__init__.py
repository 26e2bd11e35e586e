"""tfbiggan Keras layers (all registered under the package name "tfbiggan")."""

from tfbiggan.layers.attention import SelfAttention
from tfbiggan.layers.blocks import DBlock, GBlock
from tfbiggan.layers.deep_blocks import DeepDBlock, DeepGBlock
from tfbiggan.layers.normalization import (ConditionalBN, StandingBatchNorm,
                                           accumulate_standing_statistics, batch_norm_layers)
from tfbiggan.layers.spectral_norm import (SpectralNormConv, SpectralNormDense,
                                           SpectralNormEmbedding)

# Longer aliases.
ConditionalBatchNormalization = ConditionalBN
SpectralNormalizedConv2D = SpectralNormConv
