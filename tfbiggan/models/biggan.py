"""BigGAN generator and discriminator (Brock, Donahue & Simonyan, ICLR 2019)."""

import keras
from keras import ops

from tfbiggan import validation
from tfbiggan.layers.blocks import DBlock, GBlock
from tfbiggan.layers.minibatch_stddev import MinibatchStdDev
from tfbiggan.layers.spectral_norm import SpectralNormDense
from tfbiggan.models import architectures, common
from tfbiggan.layers.tracking import track_list

RESOLUTIONS = tuple(sorted(architectures.BIGGAN_GENERATOR))


def _attention_tuple(name, value, default):
    if value is None:
        return tuple(default)
    if isinstance(value, int):
        value = (value,)
    value = tuple(value)
    if any(not isinstance(v, int) or v < 1 for v in value):
        raise ValueError(f"`{name}` must be a sequence of positive integers, got {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="tfbiggan")
class BigGANGenerator(keras.Model):
    """BigGAN generator: z (+ class) → image [B, R, R, out_channels] in [-1, 1].

    With the hierarchical latent, z is split into (blocks + 1) equal chunks: chunk 0 feeds
    the first SN linear (→ [B, 4, 4, 16ch]) and chunk i + 1, concatenated with the shared
    class embedding as [z_chunk, embedding], conditions both batch norms of block i. Without
    it, the whole z feeds the linear and the embedding alone conditions every block. Without
    the shared embedding, the conditional-BN projections act on the one-hot class vector
    directly (per-layer class embeddings, the CIFAR-10 recipe).

    Args:
      resolution: 32, 64, 128, 256 or 512.
      ch: channel width multiplier (96 in the paper).
      dim_z: latent size (default per resolution: 128, 120, 120, 140, 160).
      shared_dim: width of the shared class embedding (128).
      num_classes: number of classes.
      attention: resolutions after which self-attention is applied (default per resolution).
      hierarchical: split z across the blocks ("skip-z").
      shared_embedding: one shared class embedding (else per-layer class embeddings).
      bn_epsilon, bn_momentum: batch-norm settings (paper 1e-4).
      sn_epsilon, num_power_iterations: spectral-norm settings (paper 1e-4, 1).
      out_channels: image channels.
      synchronized_bn: cross-replica batch statistics.
      num_truncation_stats: rows of the truncation-indexed statistics bank per BN (0 = none).
      kernel_initializer: initializer of every kernel (orthogonal).

    Call: `generator(z, y, training=False, truncation=None)` with `y` int class ids [B] or
    float class vectors [B, num_classes] (one-hot or mixtures).

    Example:
      >>> generator = BigGANGenerator(128, ch=96, num_classes=1000)
      >>> images = generator(z, labels)
    """

    def __init__(self, resolution=128, ch=96, dim_z=None, shared_dim=128, num_classes=1000,
                 attention=None, hierarchical=True, shared_embedding=True, bn_epsilon=1e-4,
                 bn_momentum=0.9, sn_epsilon=1e-4, num_power_iterations=1, out_channels=3,
                 synchronized_bn=False, num_truncation_stats=51,
                 kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        arch = architectures.lookup(architectures.BIGGAN_GENERATOR, resolution,
                                    "BigGAN generator")
        self.resolution = resolution
        self.ch = validation.positive_int("ch", ch)
        self.dim_z = validation.positive_int(
            "dim_z", arch.default_dim_z if dim_z is None else dim_z)
        self.shared_dim = validation.positive_int("shared_dim", shared_dim)
        self.num_classes = validation.positive_int("num_classes", num_classes)
        self.attention = _attention_tuple("attention", attention, arch.default_attention)
        self.hierarchical = validation.boolean("hierarchical", hierarchical)
        self.shared_embedding = validation.boolean("shared_embedding", shared_embedding)
        self.bn_epsilon = validation.positive_float("bn_epsilon", bn_epsilon)
        self.bn_momentum = validation.in_range("bn_momentum", bn_momentum, 0.0, 1.0)
        self.sn_epsilon = validation.positive_float("sn_epsilon", sn_epsilon)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.out_channels = validation.positive_int("out_channels", out_channels)
        self.synchronized_bn = validation.boolean("synchronized_bn", synchronized_bn)
        self.num_truncation_stats = validation.truncation_rows(
            "num_truncation_stats", num_truncation_stats)
        self.kernel_initializer = keras.initializers.serialize(
            keras.initializers.get(kernel_initializer))

        num_blocks = len(arch.blocks)
        self.num_chunks = num_blocks + 1 if self.hierarchical else 1
        if self.dim_z % self.num_chunks:
            raise ValueError(f"`dim_z` must be divisible by the {self.num_chunks} latent "
                             f"chunks of a {resolution}×{resolution} hierarchical generator, "
                             f"got {self.dim_z}.")
        chunk = self.dim_z // self.num_chunks
        class_width = self.shared_dim if self.shared_embedding else self.num_classes
        cond_dim = class_width + (chunk if self.hierarchical else 0)
        sn = common.sn_settings(self.sn_epsilon, self.num_power_iterations,
                                self.kernel_initializer)
        policy = self.dtype_policy

        self.shared = None
        if self.shared_embedding:
            self.shared = keras.layers.Dense(
                self.shared_dim, use_bias=False, kernel_initializer=self.kernel_initializer,
                dtype=policy, name="shared")
            self.shared.build((None, self.num_classes))
        top = 4
        top_channels = arch.blocks[0].in_mult * self.ch
        self.linear = SpectralNormDense(top * top * top_channels, **sn, dtype=policy,
                                        name="linear")
        self.linear.build((None, chunk if self.hierarchical else self.dim_z))
        self.blocks, self.attention_layers = [], []
        size, channels = top, top_channels
        for index, spec in enumerate(arch.blocks):
            block = GBlock(
                spec.out_mult * self.ch, upsample=spec.resample, bn_epsilon=self.bn_epsilon,
                bn_momentum=self.bn_momentum, synchronized=self.synchronized_bn,
                num_truncation_stats=self.num_truncation_stats,
                conditional_sn=self.shared_embedding, **_block_sn(sn), dtype=policy,
                name=f"block{index}")
            block.build((None, size, size, channels), (None, cond_dim))
            size, channels = size * 2, spec.out_mult * self.ch
            self.blocks.append(block)
            self.attention_layers.append(
                common.attention_layer(self, index, (None, size, size, channels))
                if spec.label in self.attention else None)
        track_list(self, "block", self.blocks)
        track_list(self, "attention", self.attention_layers)
        self.output_layer = common.output_layer(self, self.out_channels,
                                                (None, size, size, channels), sn)
        self._top = (top, top_channels)
        self.built = True  # Every layer was built above from the static shapes.

    def call(self, z, y, training=False, truncation=None):
        z, classes = common.generator_inputs(self, z, y)
        if self.shared is not None:
            classes = self.shared(classes)
        if self.hierarchical:
            chunks = ops.split(z, self.num_chunks, axis=-1)
            h = self.linear(chunks[0], training=training)
            conditions = [ops.concatenate([c, classes], axis=-1) for c in chunks[1:]]
        else:
            h = self.linear(z, training=training)
            conditions = [classes] * len(self.blocks)
        top, top_channels = self._top
        h = ops.reshape(h, (-1, top, top, top_channels))
        h = common.run_stack(self, h, training, conditions, truncation)
        return self.output_layer(h, training=training, truncation=truncation)

    def get_config(self):
        return {
            "name": self.name, "resolution": self.resolution, "ch": self.ch,
            "dim_z": self.dim_z, "shared_dim": self.shared_dim,
            "num_classes": self.num_classes, "attention": self.attention,
            "hierarchical": self.hierarchical, "shared_embedding": self.shared_embedding,
            "bn_epsilon": self.bn_epsilon, "bn_momentum": self.bn_momentum,
            "sn_epsilon": self.sn_epsilon, "num_power_iterations": self.num_power_iterations,
            "out_channels": self.out_channels, "synchronized_bn": self.synchronized_bn,
            "num_truncation_stats": self.num_truncation_stats,
            "kernel_initializer": self.kernel_initializer,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy)}

    from_config = classmethod(common.model_from_config)

def _block_sn(sn):
    return {"sn_epsilon": sn["epsilon"], "num_power_iterations": sn["num_power_iterations"],
            "kernel_initializer": sn["kernel_initializer"]}


@keras.saving.register_keras_serializable(package="tfbiggan")
class BigGANDiscriminator(keras.Model):
    """BigGAN projection discriminator: image (+ class) → logits [B].

    Residual DBlocks (the first without pre-activation), self-attention at the configured
    resolutions, then ReLU → global sum pool → SN linear(1) + ⟨SN-embed(y), h⟩.

    Args:
      resolution: 32, 64, 128, 256 or 512.
      ch: channel width multiplier.
      num_classes: number of classes (0 = unconditional, no projection).
      attention: resolution labels after which self-attention is applied.
      sn_epsilon, num_power_iterations: spectral-norm settings.
      in_channels: image channels.
      kernel_initializer: initializer of every kernel (orthogonal).
      minibatch_kernels: number of minibatch-discrimination features (Salimans et al. 2016,
        §3.2); 0 (the default) turns it off and leaves the model as in the paper. With K > 0,
        the pooled features h [B, C] give closeness features o [B, K] (a learned tensor T
        [C, K, minibatch_kernel_dim], L1 distances, exp(−d) summed over the other examples
        of the batch), the SN linear reads [h, o] and the class projection stays ⟨embed(y), h⟩;
        this adds C·K·minibatch_kernel_dim + K trainable parameters. The sum runs over the
        batch D is called on: per replica, per accumulation sub-step and, in the trainer's
        D update, over the concatenated real and generated examples.
      minibatch_kernel_dim: dimension of each projected row of T (8).
      mbstd_group_size: 0 (the default, as in the paper) or G > 0: a minibatch standard
        deviation feature map (ProGAN's, `tfbiggan.layers.MinibatchStdDev`) is appended to
        the input of the last block, which then reads 1 more channel (its first convolution
        gains an input row and, its width in and out now differing, its identity shortcut
        becomes a learned SN 1×1 convolution). The batch D is called on must be
        divisible by min(G, batch).
      mbstd_grouping: "strided" (the ProGAN paper's groups) or "contiguous" (consecutive
        examples: the trainer concatenates [real; generated], so with `training.sort_by_class`
        each group holds one kind and as few classes as the batch allows, and the statistic
        measures within-class variety).

    Call: `discriminator(images, y, training=False, return_features=False)`; with
    `return_features=True` returns (logits, pooled penultimate features h [B, 16ch], before
    minibatch discrimination).

    Example:
      >>> discriminator = BigGANDiscriminator(128, ch=96, num_classes=1000)
      >>> logits = discriminator(images, labels, training=True)
    """

    def __init__(self, resolution=128, ch=96, num_classes=1000, attention=None,
                 sn_epsilon=1e-4, num_power_iterations=1, in_channels=3,
                 kernel_initializer="orthogonal", minibatch_kernels=0, minibatch_kernel_dim=8,
                 mbstd_group_size=0, mbstd_grouping="strided", **kwargs):
        super().__init__(**kwargs)
        arch = architectures.lookup(architectures.BIGGAN_DISCRIMINATOR, resolution,
                                    "BigGAN discriminator")
        self.resolution = resolution
        self.ch = validation.positive_int("ch", ch)
        self.num_classes = validation.positive_int("num_classes", num_classes, allow_zero=True)
        self.attention = _attention_tuple("attention", attention, arch.default_attention)
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
        self.mbstd_group_size = validation.positive_int(
            "mbstd_group_size", mbstd_group_size, allow_zero=True)
        self.mbstd_grouping = mbstd_grouping
        sn = common.sn_settings(self.sn_epsilon, self.num_power_iterations,
                                self.kernel_initializer)
        policy = self.dtype_policy
        # Before the last block; the layer validates the grouping.
        self.mbstd = (MinibatchStdDev(self.mbstd_group_size, grouping=mbstd_grouping,
                                      dtype=policy, name="mbstd")
                      if self.mbstd_group_size else None)
        self.blocks, self.attention_layers = [], []
        size, channels = resolution, self.in_channels
        for index, spec in enumerate(arch.blocks):
            if self.mbstd is not None and index == len(arch.blocks) - 1:
                channels += 1
            block = DBlock(spec.out_mult * self.ch, downsample=spec.resample,
                           preactivation=index > 0, **_block_sn(sn), dtype=policy,
                           name=f"block{index}")
            block.build((None, size, size, channels))
            size = size // 2 if spec.resample else size
            channels = spec.out_mult * self.ch
            self.blocks.append(block)
            self.attention_layers.append(
                common.attention_layer(self, index, (None, size, size, channels))
                if spec.label in self.attention else None)
        track_list(self, "block", self.blocks)
        track_list(self, "attention", self.attention_layers)
        self.head = common.ProjectionHead(
            self.num_classes, channels, sn, minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim, dtype=policy, name="head")
        self.built = True  # Every layer was built above from the static shapes.

    def call(self, images, y=None, training=False, return_features=False):
        h, y_onehot = common.discriminator_inputs(self, images, y)
        h = common.run_stack(self, h, training, before_last=self.mbstd)
        logits, features = self.head(h, y_onehot, training=training)
        return (logits, features) if return_features else logits

    def get_config(self):
        return {
            "name": self.name, "resolution": self.resolution, "ch": self.ch,
            "num_classes": self.num_classes, "attention": self.attention,
            "mbstd_group_size": self.mbstd_group_size, "mbstd_grouping": self.mbstd_grouping,
            "sn_epsilon": self.sn_epsilon, "num_power_iterations": self.num_power_iterations,
            "in_channels": self.in_channels, "kernel_initializer": self.kernel_initializer,
            "minibatch_kernels": self.minibatch_kernels,
            "minibatch_kernel_dim": self.minibatch_kernel_dim,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy)}

    from_config = classmethod(common.model_from_config)

