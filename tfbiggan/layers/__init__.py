"""tfbiggan Keras layers (all registered under the package name "tfbiggan")."""

from tfbiggan.layers.attention import SelfAttention
from tfbiggan.layers.blocks import DBlock, GBlock
from tfbiggan.layers.deep_blocks import DeepDBlock, DeepGBlock
from tfbiggan.layers.equalized import EqualizedConv, EqualizedDense
from tfbiggan.layers.fade_in import FadeIn
from tfbiggan.layers.minibatch_discrimination import MinibatchDiscrimination
from tfbiggan.layers.minibatch_stddev import MinibatchStdDev
from tfbiggan.layers.normalization import (ConditionalBN, StandingBatchNorm,
                                           accumulate_standing_statistics, batch_norm_layers)
from tfbiggan.layers.pixel_norm import PixelNorm
from tfbiggan.layers.spectral_norm import (SpectralNormConv, SpectralNormDense,
                                           SpectralNormEmbedding)
from tfbiggan.layers.virtual_batch_norm import VirtualBatchNorm

# Longer aliases.
ConditionalBatchNormalization = ConditionalBN
SpectralNormalizedConv2D = SpectralNormConv
