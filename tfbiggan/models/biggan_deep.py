"""BigGAN-deep generator and discriminator (Brock, Donahue & Simonyan, ICLR 2019, App. B)."""

import keras
from keras import ops

from tfbiggan import validation
from tfbiggan.layers.deep_blocks import DeepDBlock, DeepGBlock
from tfbiggan.layers.spectral_norm import SpectralNormConv, SpectralNormDense
from tfbiggan.models import architectures, common
from tfbiggan.layers.tracking import track_list


def _attention_index(value, default, num_blocks):
    if value is None:
        return default
    if value == -1:
        return -1
    if not isinstance(value, int) or not 0 <= value < num_blocks:
        raise ValueError(f"`attention_after` must be a block index in [0, {num_blocks}) or -1 "
                         f"(no attention), got {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="tfbiggan")
class BigGANDeepGenerator(keras.Model):
    """BigGAN-deep generator: bottleneck blocks, two per resolution, z not split.

    cond = [z, shared_embedding(y)] (z first, the TF-Hub order) feeds the first SN linear
    (→ [B, 4, 4, 16ch]) and every conditional batch norm.

    Args:
      resolution: 128, 256 or 512.
      ch: channel width multiplier (128 in the paper).
      dim_z: latent size (128).
      shared_dim: class embedding width (128).
      num_classes: number of classes.
      attention_after: index of the block followed by self-attention (default: the block
        reaching 64×64); -1 for none.
      bn_epsilon, bn_momentum, sn_epsilon, num_power_iterations: normalisation settings.
      out_channels: image channels.
      output_conv_channels: width of the output convolution before keeping the first
        `out_channels` (None = out_channels; the TF-Hub modules use ch).
      synchronized_bn, num_truncation_stats, kernel_initializer: as for BigGANGenerator.

    Example:
      >>> generator = BigGANDeepGenerator(128, num_classes=1000, output_conv_channels=128)
      >>> images = generator(z, y_one_hot, truncation=0.4)
    """

    def __init__(self, resolution=128, ch=128, dim_z=128, shared_dim=128, num_classes=1000,
                 attention_after=None, bn_epsilon=1e-4, bn_momentum=0.9, sn_epsilon=1e-4,
                 num_power_iterations=1, out_channels=3, output_conv_channels=None,
                 synchronized_bn=False, num_truncation_stats=51,
                 kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        arch = architectures.lookup(architectures.BIGGAN_DEEP_GENERATOR, resolution,
                                    "BigGAN-deep generator")
        self.resolution = resolution
        self.ch = validation.positive_int("ch", ch)
        self.dim_z = validation.positive_int("dim_z", dim_z)
        self.shared_dim = validation.positive_int("shared_dim", shared_dim)
        self.num_classes = validation.positive_int("num_classes", num_classes)
        self.attention_after = _attention_index(attention_after, arch.default_attention[0],
                                                len(arch.blocks))
        self.bn_epsilon = validation.positive_float("bn_epsilon", bn_epsilon)
        self.bn_momentum = validation.in_range("bn_momentum", bn_momentum, 0.0, 1.0)
        self.sn_epsilon = validation.positive_float("sn_epsilon", sn_epsilon)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.out_channels = validation.positive_int("out_channels", out_channels)
        self.output_conv_channels = validation.positive_int(
            "output_conv_channels",
            out_channels if output_conv_channels is None else output_conv_channels)
        if self.output_conv_channels < self.out_channels:
            raise ValueError(f"`output_conv_channels` must be >= out_channels "
                             f"({out_channels}), got {output_conv_channels!r}.")
        self.synchronized_bn = validation.boolean("synchronized_bn", synchronized_bn)
        self.num_truncation_stats = validation.truncation_rows(
            "num_truncation_stats", num_truncation_stats)
        self.kernel_initializer = keras.initializers.serialize(
            keras.initializers.get(kernel_initializer))
        sn = common.sn_settings(self.sn_epsilon, self.num_power_iterations,
                                self.kernel_initializer)
        block_sn = {"sn_epsilon": self.sn_epsilon,
                    "num_power_iterations": self.num_power_iterations,
                    "kernel_initializer": self.kernel_initializer}
        policy = self.dtype_policy
        cond_dim = self.dim_z + self.shared_dim

        self.shared = keras.layers.Dense(self.shared_dim, use_bias=False,
                                         kernel_initializer=self.kernel_initializer,
                                         dtype=policy, name="shared")
        self.shared.build((None, self.num_classes))
        top, top_channels = 4, arch.blocks[0].in_mult * self.ch
        self.linear = SpectralNormDense(top * top * top_channels, **sn, dtype=policy,
                                        name="linear")
        self.linear.build((None, cond_dim))
        self.blocks, self.attention_layers = [], []
        size, channels = top, top_channels
        for index, spec in enumerate(arch.blocks):
            block = DeepGBlock(
                spec.out_mult * self.ch, upsample=spec.resample, bn_epsilon=self.bn_epsilon,
                bn_momentum=self.bn_momentum, synchronized=self.synchronized_bn,
                num_truncation_stats=self.num_truncation_stats, **block_sn, dtype=policy,
                name=f"block{index}")
            block.build((None, size, size, channels), (None, cond_dim))
            size = size * 2 if spec.resample else size
            channels = spec.out_mult * self.ch
            self.blocks.append(block)
            self.attention_layers.append(
                common.attention_layer(self, index, (None, size, size, channels))
                if index == self.attention_after else None)
        track_list(self, "block", self.blocks)
        track_list(self, "attention", self.attention_layers)
        self.output_layer = common.output_layer(self, self.output_conv_channels,
                                                (None, size, size, channels), sn)
        self._top = (top, top_channels)
        self.built = True  # Every layer was built above from the static shapes.

    def call(self, z, y, training=False, truncation=None):
        z, y = common.generator_inputs(self, z, y)
        condition = ops.concatenate([z, self.shared(y)], axis=-1)
        top, top_channels = self._top
        h = ops.reshape(self.linear(condition, training=training),
                        (-1, top, top, top_channels))
        h = common.run_stack(self, h, training, [condition] * len(self.blocks), truncation)
        return self.output_layer(h, training=training, truncation=truncation)

    def get_config(self):
        return {
            "name": self.name, "resolution": self.resolution, "ch": self.ch,
            "dim_z": self.dim_z, "shared_dim": self.shared_dim,
            "num_classes": self.num_classes, "attention_after": self.attention_after,
            "bn_epsilon": self.bn_epsilon, "bn_momentum": self.bn_momentum,
            "sn_epsilon": self.sn_epsilon, "num_power_iterations": self.num_power_iterations,
            "out_channels": self.out_channels,
            "output_conv_channels": self.output_conv_channels,
            "synchronized_bn": self.synchronized_bn,
            "num_truncation_stats": self.num_truncation_stats,
            "kernel_initializer": self.kernel_initializer,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy)}

    from_config = classmethod(common.model_from_config)


@keras.saving.register_keras_serializable(package="tfbiggan")
class BigGANDeepDiscriminator(keras.Model):
    """BigGAN-deep projection discriminator: SN 3×3 stem, bottleneck DeepDBlocks, attention,
    ReLU → global sum pool → SN linear(1) + ⟨SN-embed(y), h⟩.

    Args:
      resolution: 128, 256 or 512.
      ch: channel width multiplier (128).
      num_classes: number of classes (0 = unconditional).
      attention_after: block index followed by self-attention (default at 64×64); -1 none.
      sn_epsilon, num_power_iterations, in_channels, kernel_initializer: as for
        BigGANDiscriminator.
      minibatch_kernels, minibatch_kernel_dim: minibatch discrimination on the pooled
        features, as for BigGANDiscriminator (0 kernels, the default: off).

    Call: `discriminator(images, y, training=False, return_features=False)`; with
    `return_features=True` returns (logits, pooled penultimate features h [B, 16ch], before
    minibatch discrimination).

    Example:
      >>> discriminator = BigGANDeepDiscriminator(128, num_classes=1000)
      >>> logits = discriminator(images, labels)
    """

    def __init__(self, resolution=128, ch=128, num_classes=1000, attention_after=None,
                 sn_epsilon=1e-4, num_power_iterations=1, in_channels=3,
                 kernel_initializer="orthogonal", minibatch_kernels=0, minibatch_kernel_dim=8,
                 **kwargs):
        super().__init__(**kwargs)
        arch = architectures.lookup(architectures.BIGGAN_DEEP_DISCRIMINATOR, resolution,
                                    "BigGAN-deep discriminator")
        self.resolution = resolution
        self.ch = validation.positive_int("ch", ch)
        self.num_classes = validation.positive_int("num_classes", num_classes, allow_zero=True)
        self.attention_after = _attention_index(attention_after, arch.default_attention[0],
                                                len(arch.blocks))
        self.sn_epsilon = validation.positive_float("sn_epsilon", sn_epsilon)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.in_channels = validation.positive_int("in_channels", in_channels)
        self.kernel_initializer = keras.initializers.serialize(
            keras.initializers.get(kernel_initializer))
        self.minibatch_kernels = validation.positive_int(
            "minibatch_kernels", minibatch_kernels, allow_zero=True)
        self.minibatch_kernel_dim = validation.positive_int(
            "minibatch_kernel_dim", minibatch_kernel_dim)
        sn = common.sn_settings(self.sn_epsilon, self.num_power_iterations,
                                self.kernel_initializer)
        block_sn = {"sn_epsilon": self.sn_epsilon,
                    "num_power_iterations": self.num_power_iterations,
                    "kernel_initializer": self.kernel_initializer}
        policy = self.dtype_policy
        channels = arch.stem_mult * self.ch
        self.stem = SpectralNormConv(channels, 3, **sn, dtype=policy, name="stem")
        self.stem.build((None, resolution, resolution, self.in_channels))
        self.blocks, self.attention_layers = [], []
        size = resolution
        for index, spec in enumerate(arch.blocks):
            block = DeepDBlock(spec.out_mult * self.ch, downsample=spec.resample, **block_sn,
                               dtype=policy, name=f"block{index}")
            block.build((None, size, size, channels))
            size = size // 2 if spec.resample else size
            channels = spec.out_mult * self.ch
            self.blocks.append(block)
            self.attention_layers.append(
                common.attention_layer(self, index, (None, size, size, channels))
                if index == self.attention_after else None)
        track_list(self, "block", self.blocks)
        track_list(self, "attention", self.attention_layers)
        self.head = common.ProjectionHead(
            self.num_classes, channels, sn, minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim, dtype=policy, name="head")
        self.built = True  # Every layer was built above from the static shapes.

    def call(self, images, y=None, training=False, return_features=False):
        images, y_onehot = common.discriminator_inputs(self, images, y)
        h = common.run_stack(self, self.stem(images, training=training), training)
        logits, features = self.head(h, y_onehot, training=training)
        return (logits, features) if return_features else logits

    def get_config(self):
        return {
            "name": self.name, "resolution": self.resolution, "ch": self.ch,
            "num_classes": self.num_classes, "attention_after": self.attention_after,
            "sn_epsilon": self.sn_epsilon, "num_power_iterations": self.num_power_iterations,
            "in_channels": self.in_channels, "kernel_initializer": self.kernel_initializer,
            "minibatch_kernels": self.minibatch_kernels,
            "minibatch_kernel_dim": self.minibatch_kernel_dim,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy)}

    from_config = classmethod(common.model_from_config)
