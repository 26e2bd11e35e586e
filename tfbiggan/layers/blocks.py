"""BigGAN residual blocks: GBlock (up) and DBlock (down)."""

import keras
import tensorflow as tf
from keras import ops

from tfbiggan import validation
from tfbiggan.layers.normalization import ConditionalBN
from tfbiggan.layers.spectral_norm import SpectralNormConv


@tf.custom_gradient
def upsample(x):
    """Nearest-neighbour ×2 upsampling (NHWC); needs a static height and width.

    The same values as repeating every row and column twice. The gradient sums each 2×2 block
    of the incoming gradient as one strided pooling (4 · avg-pool), instead of the gradient of
    two repeats (reshape, reduce, reshape twice); both directions are single ops with XLA
    kernels.
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(f"upsample needs a static height and width, got shape {x.shape}.")

    def gradient(dy):
        return tf.nn.avg_pool2d(dy, 2, 2, "VALID") * ops.cast(4.0, dy.dtype)

    return tf.image.resize(x, (2 * height, 2 * width), method="nearest"), gradient


def downsample(x):
    """2×2 average pooling with stride 2 (NHWC)."""
    return ops.average_pool(x, 2, 2, padding="valid")


class _ResidualBlock(keras.layers.Layer):
    """Settings shared by every residual block: spectral norm and batch norm options."""

    def __init__(self, out_channels, sn_epsilon=1e-4, num_power_iterations=1,
                 kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.out_channels = validation.positive_int("out_channels", out_channels)
        self.sn_epsilon = validation.positive_float("sn_epsilon", sn_epsilon)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _conv(self, filters, kernel_size, name):
        return SpectralNormConv(
            filters, kernel_size, num_power_iterations=self.num_power_iterations,
            epsilon=self.sn_epsilon, kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy, name=name)

    def _check_input(self, shape):
        validation.check_rank(type(self).__name__, "inputs", shape, 4)

    def get_config(self):
        config = super().get_config()
        config.update({
            "out_channels": self.out_channels, "sn_epsilon": self.sn_epsilon,
            "num_power_iterations": self.num_power_iterations,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


class _ConditionalBlock(_ResidualBlock):
    """A residual block with conditional batch norms (generator side)."""

    def __init__(self, out_channels, upsample=True, bn_epsilon=1e-4, bn_momentum=0.9,
                 synchronized=False, num_truncation_stats=51, conditional_sn=True,
                 sn_epsilon=1e-4, num_power_iterations=1, kernel_initializer="orthogonal",
                 **kwargs):
        super().__init__(out_channels, sn_epsilon, num_power_iterations, kernel_initializer,
                         **kwargs)
        self.upsample = validation.boolean("upsample", upsample)
        self.bn_epsilon = validation.positive_float("bn_epsilon", bn_epsilon)
        self.bn_momentum = validation.in_range("bn_momentum", bn_momentum, 0.0, 1.0)
        self.synchronized = validation.boolean("synchronized", synchronized)
        self.num_truncation_stats = validation.truncation_rows(
            "num_truncation_stats", num_truncation_stats)
        self.conditional_sn = validation.boolean("conditional_sn", conditional_sn)

    def _bn(self, name):
        return ConditionalBN(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon, synchronized=self.synchronized,
            num_truncation_stats=self.num_truncation_stats,
            use_spectral_norm=self.conditional_sn, sn_epsilon=self.sn_epsilon,
            num_power_iterations=self.num_power_iterations,
            kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name=name)

    def compute_output_shape(self, x_shape, condition_shape):
        input_shape = x_shape
        scale = 2 if self.upsample else 1
        return (input_shape[0], input_shape[1] * scale, input_shape[2] * scale,
                self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update({
            "upsample": self.upsample, "bn_epsilon": self.bn_epsilon,
            "bn_momentum": self.bn_momentum, "synchronized": self.synchronized,
            "num_truncation_stats": self.num_truncation_stats,
            "conditional_sn": self.conditional_sn})
        return config


@keras.saving.register_keras_serializable(package="tfbiggan")
class GBlock(_ConditionalBlock):
    """BigGAN generator block ("ResBlock up").

    main: CBN → ReLU → upsample ×2 → SN 3×3 conv → CBN → ReLU → SN 3×3 conv;
    shortcut: upsample ×2 → SN 1×1 conv (when channels change or the block upsamples).
    Both conditional batch norms take the block's condition vector. The 1×1 convolution is
    computed before the upsampling: it acts on each pixel alone, so conv(upsample(x)) and
    upsample(conv(x)) are the same values, at a quarter of the cost.

    Args:
      out_channels: output channels.
      upsample: nearest-neighbour ×2 upsampling (True in every BigGAN block).
      bn_epsilon, bn_momentum, synchronized, num_truncation_stats: batch-norm settings.
      conditional_sn: spectrally normalise the conditional-BN projections (False for the
        per-layer class embeddings of the CIFAR recipe).
      sn_epsilon, num_power_iterations, kernel_initializer: convolution settings.

    Example:
      >>> block = GBlock(256)
      >>> h = block(h, condition, training=True)   # [B, H, W, C] → [B, 2H, 2W, 256]

    Reference: Brock et al. 2019, Fig. 15(b).
    """

    def build(self, x_shape, condition_shape):
        input_shape = x_shape
        self._check_input(input_shape)
        in_channels = input_shape[-1]
        self.bn1 = self._bn("bn1")
        self.bn1.build(input_shape, condition_shape)
        self.conv1 = self._conv(self.out_channels, 3, "conv1")
        self.conv1.build(tuple(input_shape))
        self.bn2 = self._bn("bn2")
        self.bn2.build(tuple(input_shape[:-1]) + (self.out_channels,), condition_shape)
        self.conv2 = self._conv(self.out_channels, 3, "conv2")
        self.conv2.build(tuple(input_shape[:-1]) + (self.out_channels,))
        self.learnable_shortcut = in_channels != self.out_channels or self.upsample
        self.conv_sc = None
        if self.learnable_shortcut:
            self.conv_sc = self._conv(self.out_channels, 1, "conv_sc")
            self.conv_sc.build(tuple(input_shape))

    def call(self, x, condition, training=False, truncation=None):
        self._check_input(x.shape)
        h = ops.relu(self.bn1(x, condition, training=training, truncation=truncation))
        if self.upsample:
            h = upsample(h)
        h = self.conv1(h, training=training)
        h = ops.relu(self.bn2(h, condition, training=training, truncation=truncation))
        h = self.conv2(h, training=training)
        if self.conv_sc is not None:
            x = self.conv_sc(x, training=training)
        if self.upsample:
            x = upsample(x)
        return h + x


@keras.saving.register_keras_serializable(package="tfbiggan")
class DBlock(_ResidualBlock):
    """BigGAN discriminator block ("ResBlock down").

    main: [ReLU] → SN 3×3 conv → ReLU → SN 3×3 conv → [avg-pool 2×2];
    shortcut: [avg-pool 2×2] → SN 1×1 conv, the convolution present when channels change or
    the block downsamples (identity otherwise). BigGAN-PyTorch convolves before pooling in
    pre-activation blocks; the two orders give the same values.

    Args:
      out_channels: output channels (also the width of the first convolution, "D_wide").
      downsample: 2×2 average pooling at the end.
      preactivation: ReLU at the start (False for the first block, which sees images).
      sn_epsilon, num_power_iterations, kernel_initializer: convolution settings.

    Example:
      >>> block = DBlock(128, downsample=True, preactivation=False)
      >>> h = block(images, training=True)

    Reference: Brock et al. 2019, Fig. 15(c).
    """

    def __init__(self, out_channels, downsample=True, preactivation=True, sn_epsilon=1e-4,
                 num_power_iterations=1, kernel_initializer="orthogonal", **kwargs):
        super().__init__(out_channels, sn_epsilon, num_power_iterations, kernel_initializer,
                         **kwargs)
        self.downsample = validation.boolean("downsample", downsample)
        self.preactivation = validation.boolean("preactivation", preactivation)

    def build(self, input_shape):
        self._check_input(input_shape)
        in_channels = input_shape[-1]
        self.conv1 = self._conv(self.out_channels, 3, "conv1")
        self.conv1.build(tuple(input_shape))
        self.conv2 = self._conv(self.out_channels, 3, "conv2")
        self.conv2.build(tuple(input_shape[:-1]) + (self.out_channels,))
        self.conv_sc = None
        if in_channels != self.out_channels or self.downsample:
            self.conv_sc = self._conv(self.out_channels, 1, "conv_sc")
            self.conv_sc.build(tuple(input_shape))

    def _shortcut(self, x, training):
        # BigGAN-PyTorch pools after the 1×1 convolution in pre-activation blocks. Averaging
        # commutes with a per-pixel affine map, so pooling first gives the same values (to
        # rounding) with a quarter of the convolution's work.
        if self.downsample:
            x = downsample(x)
        return self.conv_sc(x, training=training) if self.conv_sc is not None else x

    def call(self, x, training=False):
        self._check_input(x.shape)
        h = ops.relu(x) if self.preactivation else x
        h = self.conv1(h, training=training)
        h = self.conv2(ops.relu(h), training=training)
        if self.downsample:
            h = downsample(h)
        return h + self._shortcut(x, training)

    def compute_output_shape(self, input_shape):
        scale = 2 if self.downsample else 1
        return (input_shape[0], input_shape[1] // scale, input_shape[2] // scale,
                self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update({"downsample": self.downsample, "preactivation": self.preactivation})
        return config
