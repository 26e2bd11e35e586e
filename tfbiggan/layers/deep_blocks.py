"""BigGAN-deep bottleneck residual blocks: DeepGBlock and DeepDBlock."""

import keras
from keras import ops

from tfbiggan import validation
from tfbiggan.layers.blocks import _ConditionalBlock, _ResidualBlock, downsample, upsample
from tfbiggan.layers.tracking import track_list


@keras.saving.register_keras_serializable(package="tfbiggan")
class DeepGBlock(_ConditionalBlock):
    """BigGAN-deep generator block (bottleneck, optional ×2 upsampling).

    main (h = C_in / 4): CBN → ReLU → SN 1×1 conv C_in→h → CBN → ReLU → [upsample] →
    SN 3×3 conv → CBN → ReLU → SN 3×3 conv → CBN → ReLU → SN 1×1 conv h→C_out;
    shortcut (no parameters): keep the first C_out channels when channels shrink, then
    [upsample]. Every conditional BN takes the same condition vector.

    Args: as for `GBlock`; `out_channels` must not exceed the input channels.

    Example:
      >>> block = DeepGBlock(512, upsample=True)
      >>> h = block(h, condition, training=True)

    Reference: Brock et al. 2019, Fig. 16(b).
    """

    def build(self, x_shape, condition_shape):
        input_shape = x_shape
        self._check_input(input_shape)
        in_channels = input_shape[-1]
        if self.out_channels > in_channels:
            raise ValueError(f"DeepGBlock cannot increase channels: input has {in_channels}, "
                             f"out_channels={self.out_channels}.")
        hidden = in_channels // 4
        if hidden < 1:
            raise ValueError(f"DeepGBlock needs at least 4 input channels, got {in_channels}.")
        size = tuple(input_shape[1:3])
        scale = 2 if self.upsample else 1
        big = (input_shape[0], size[0] * scale, size[1] * scale)
        small = (input_shape[0],) + size
        specs = [  # (bn name, bn input shape, conv name, conv input shape, filters, kernel)
            ("bn0", small + (in_channels,), "conv0", small + (in_channels,), hidden, 1),
            ("bn1", small + (hidden,), "conv1", big + (hidden,), hidden, 3),
            ("bn2", big + (hidden,), "conv2", big + (hidden,), hidden, 3),
            ("bn3", big + (hidden,), "conv3", big + (hidden,), self.out_channels, 1),
        ]
        self.bns, self.convs = [], []
        for bn_name, bn_shape, conv_name, conv_shape, filters, kernel in specs:
            bn = self._bn(bn_name)
            bn.build(bn_shape, condition_shape)
            conv = self._conv(filters, kernel, conv_name)
            conv.build(conv_shape)
            self.bns.append(bn)
            self.convs.append(conv)
        track_list(self, "bn", self.bns)
        track_list(self, "conv", self.convs)

    def call(self, x, condition, training=False, truncation=None):
        self._check_input(x.shape)
        h = x
        for index, (bn, conv) in enumerate(zip(self.bns, self.convs)):
            h = ops.relu(bn(h, condition, training=training, truncation=truncation))
            if index == 1 and self.upsample:
                h = upsample(h)
            h = conv(h, training=training)
        shortcut = x[..., :self.out_channels]
        if self.upsample:
            shortcut = upsample(shortcut)
        return h + shortcut


@keras.saving.register_keras_serializable(package="tfbiggan")
class DeepDBlock(_ResidualBlock):
    """BigGAN-deep discriminator block (bottleneck, optional 2×2 average-pool downsampling).

    main (h = C_out / 4): ReLU → SN 1×1 conv C_in→h → ReLU → SN 3×3 conv → ReLU →
    SN 3×3 conv → ReLU → [avg-pool] → SN 1×1 conv h→C_out;
    shortcut: [avg-pool], then, when C_out > C_in, the input concatenated with an SN 1×1 conv
    supplying the C_out − C_in extra channels.

    Args:
      out_channels: output channels (at least the input channels).
      downsample: 2×2 average pooling.
      sn_epsilon, num_power_iterations, kernel_initializer: convolution settings.

    Example:
      >>> block = DeepDBlock(256, downsample=True)
      >>> h = block(h, training=True)

    Reference: Brock et al. 2019, Fig. 16(c).
    """

    def __init__(self, out_channels, downsample=True, sn_epsilon=1e-4,
                 num_power_iterations=1, kernel_initializer="orthogonal", **kwargs):
        super().__init__(out_channels, sn_epsilon, num_power_iterations, kernel_initializer,
                         **kwargs)
        self.downsample = validation.boolean("downsample", downsample)
        if self.out_channels < 4:
            raise ValueError(f"DeepDBlock needs `out_channels` >= 4 (its bottleneck has "
                             f"out_channels / 4 channels), got {out_channels!r}.")

    def build(self, input_shape):
        self._check_input(input_shape)
        in_channels = input_shape[-1]
        if self.out_channels < in_channels:
            raise ValueError(f"DeepDBlock cannot reduce channels: input has {in_channels}, "
                             f"out_channels={self.out_channels}.")
        hidden = self.out_channels // 4
        size = tuple(input_shape[:3])
        small = (input_shape[0], input_shape[1] // 2, input_shape[2] // 2) \
            if self.downsample else size
        specs = [("conv0", size + (in_channels,), hidden, 1),
                 ("conv1", size + (hidden,), hidden, 3),
                 ("conv2", size + (hidden,), hidden, 3),
                 ("conv3", small + (hidden,), self.out_channels, 1)]
        self.convs = []
        for name, shape, filters, kernel in specs:
            conv = self._conv(filters, kernel, name)
            conv.build(shape)
            self.convs.append(conv)
        track_list(self, "conv", self.convs)
        self.conv_sc = None
        if self.out_channels > in_channels:
            self.conv_sc = self._conv(self.out_channels - in_channels, 1, "conv_sc")
            self.conv_sc.build(small + (in_channels,))

    def call(self, x, training=False):
        self._check_input(x.shape)
        h = x
        for index, conv in enumerate(self.convs):
            h = ops.relu(h)
            if index == 3 and self.downsample:
                h = downsample(h)
            h = conv(h, training=training)
        shortcut = downsample(x) if self.downsample else x
        if self.conv_sc is not None:
            shortcut = ops.concatenate(
                [shortcut, self.conv_sc(shortcut, training=training)], axis=-1)
        return h + shortcut

    def compute_output_shape(self, input_shape):
        scale = 2 if self.downsample else 1
        return (input_shape[0], input_shape[1] // scale, input_shape[2] // scale,
                self.out_channels)

    def get_config(self):
        config = super().get_config()
        config["downsample"] = self.downsample
        return config
