"""Progressive GAN generator and discriminator with in-graph growth.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018 (arXiv 1710.10196). Both networks grow from 4×4 by doubling. Every variable of every
stage exists from the start, and the growth state (`stage`, `alpha`) is held in non-trainable
weights, so checkpoints restore it, growing never creates variables and one compiled
(XLA) function serves every stage.

Images stay at the target resolution at both boundaries: the generator nearest-upsamples the
current stage's image to the target resolution, and the discriminator average-pools its
input down to the current stage's resolution (average pooling exactly undoes nearest
upsampling, so a generated image reaches D unchanged).

Stage selection is a `switch` on the stage weight (`tf.switch_case`, an XLA conditional):
branch s runs only the layers of stages 0..s, so early stages stay cheap; the price is a
graph holding S branches (at most 9 for 1024×1024).
"""

import functools
import math

import keras
from keras import ops

from tfbiggan.layers.equalized import EqualizedConv, EqualizedDense
from tfbiggan.layers.fade_in import FadeIn
from tfbiggan.layers.minibatch_stddev import MinibatchStdDev
from tfbiggan.layers.pixel_norm import PixelNorm
from tfbiggan.layers.tracking import track_list

_NEGATIVE_SLOPE = 0.2
_ACTIVATIONS = ("linear", "tanh")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _check_resolution(resolution):
    if (isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4
            or resolution & (resolution - 1)):
        raise ValueError(
            f"`resolution` must be a power of two >= 4 (4, 8, 16, ...), got {resolution!r}.")
    return int(math.log2(resolution)) - 1


def stage_channels(stage, fmap_base, fmap_max):
    """Channels of stage `stage` (0 is 4×4): min(fmap_base / 2^(stage + 1), fmap_max), ≥ 1."""
    return max(1, min(fmap_base // 2 ** (stage + 1), fmap_max))


def _upsample(x, factor):
    """Nearest-neighbour upsampling of NHWC `x` by an integer `factor`.

    The same ops as `repeat(repeat(x, factor, axis=1), factor, axis=2)` (expand, tile,
    reshape along H, then along W), so values and gradients are identical, but every tile
    multiple and target shape is a constant. `repeat` builds its multiples at run time, and the
    gradient of an XLA conditional (the stage switch) then receives them as run-time values;
    XLA needs reshape shapes to be compile-time constants, so it would fold the whole forward
    pass into constants (recompiling whenever a weight changes) or fail.

    Args:
      x: [B, H, W, C] tensor with static H, W and C.
      factor: a positive integer.

    Returns:
      [B, H·factor, W·factor, C].
    """
    if factor == 1:
        return x
    _, h, w, c = x.shape
    if None in (h, w, c):
        raise ValueError(f"_upsample needs static height, width and channels, got shape "
                         f"{tuple(x.shape)}.")
    x = ops.tile(ops.expand_dims(x, 2), (1, 1, factor, 1, 1))
    x = ops.reshape(x, (-1, h * factor, w, c))
    x = ops.tile(ops.expand_dims(x, 3), (1, 1, 1, factor, 1))
    return ops.reshape(x, (-1, h * factor, w * factor, c))


def _downsample(x, factor):
    if factor == 1:
        return x
    _, h, w, c = x.shape
    x = ops.reshape(x, (-1, h // factor, factor, w // factor, factor, c))
    return ops.mean(x, axis=(2, 4))


def _lrelu(x):
    return ops.leaky_relu(x, negative_slope=_NEGATIVE_SLOPE)


def _split_inputs(inputs, num_classes, owner):
    """Returns (main input, labels or None), checking that labels come iff conditional."""
    if isinstance(inputs, (list, tuple)):
        if num_classes and len(inputs) == 2:
            return inputs[0], inputs[1]
        if len(inputs) == 1 and not num_classes:
            return inputs[0], None
        raise ValueError(
            f"{owner}: expected {'(x, labels)' if num_classes else 'a single tensor'}, got "
            f"{len(inputs)} inputs.")
    if num_classes:
        raise ValueError(f"{owner}: num_classes={num_classes}, so call it with (x, labels).")
    return inputs, None


def _one_hot(labels, num_classes, dtype, owner):
    """Integer labels [B] or class mixtures [B, num_classes] → float [B, num_classes]."""
    if len(labels.shape) == 1:
        return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype=dtype)
    if len(labels.shape) == 2 and labels.shape[-1] == num_classes:
        return ops.cast(labels, dtype)
    raise ValueError(
        f"{owner}: labels must be integers [B] or one-hot/mixtures [B, {num_classes}], got "
        f"shape {tuple(labels.shape)}.")


def _main_shape(input_shape):
    """The main input's shape from a build shape (one shape, or [x shape, labels shape])."""
    if (isinstance(input_shape, (list, tuple)) and input_shape
            and isinstance(input_shape[0], (list, tuple))):
        return tuple(input_shape[0])
    return tuple(input_shape)


class _Growing(keras.Model):
    """Shared growth state: `stage` (int32) and `alpha` (float32) non-trainable weights."""

    def _add_growth_weights(self):
        self.stage = self.add_weight(name="stage", shape=(), dtype="int32",
                                     initializer="zeros", trainable=False)
        self.alpha = self.add_weight(name="alpha", shape=(), dtype="float32",
                                     initializer="ones", trainable=False, autocast=False)

    def set_stage(self, stage, alpha=1.0):
        """Sets the growth state: stage 0 is 4×4; `alpha` ∈ [0, 1] fades the stage in.

        In a compiled step, `model.stage.assign(...)` / `model.alpha.assign(...)` work too.
        """
        if not self.built:
            raise ValueError(f"{self.name}: build or call the model before set_stage().")
        _check_int("stage", stage, 0)
        if stage >= self.num_stages:
            raise ValueError(
                f"`stage` must be in [0, {self.num_stages - 1}] for resolution "
                f"{self.resolution}, got {stage!r}.")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (
                0.0 <= alpha <= 1.0):
            raise ValueError(f"`alpha` must be a number in [0, 1], got {alpha!r}.")
        self.stage.assign(stage)
        self.alpha.assign(float(alpha))

    @property
    def current_resolution(self):
        """Resolution of the current stage (eager value)."""
        return 4 * 2 ** int(self.stage.numpy())

    def _stage_index(self):
        return ops.clip(ops.convert_to_tensor(self.stage), 0, self.num_stages - 1)


@keras.saving.register_keras_serializable(package="tfbiggan")
class ProGANGenerator(_Growing):
    """Progressive GAN generator (equalised learning rate, pixel norm, in-graph fade-in).

    latent (++ class embedding) → PixelNorm → EqualizedDense → [B, 4, 4, C₀] → LReLU(0.2) →
    PixelNorm → 3×3 conv → LReLU → PixelNorm; each further stage: nearest ×2 → two
    (3×3 conv → LReLU → PixelNorm). A 1×1 toRGB per stage. At stage s with fade-in α the image
    is FadeIn(upsample(toRGB_{s−1}(h_{s−1})), toRGB_s(h_s), α), then `output_activation`,
    then nearest-upsampled to `resolution`: the output is always
    float32 [B, resolution, resolution, output_channels]. A fresh model is at stage 0
    (4×4); use `set_stage(num_stages - 1)` for a full-resolution model without growing.
    As in the paper's code, the first dense layer has variance gain 1/8 (std √2/4) and toRGB
    gain 1; the other convolutions gain 2.

    Args:
      resolution: target resolution, a power of two >= 4.
      latent_dim: width of z.
      num_classes: 0 for an unconditional model; otherwise call with (z, labels) where labels
        are integers [B] or one-hot/mixtures [B, num_classes]. The labels pick rows of a
        learned embedding (stored N(0, 1)) concatenated to z before the pixel norm.
      embedding_dim: width of the class embedding (default: latent_dim).
      fmap_base, fmap_max: channel schedule, stage s has min(fmap_base / 2^(s+1), fmap_max)
        channels (paper: 8192, 512).
      output_channels: image channels (3).
      output_activation: "linear" (paper) or "tanh" (applied after the fade-in blend).

    Example:
      >>> g = ProGANGenerator(resolution=16, latent_dim=8, fmap_base=64, fmap_max=16)
      >>> g.build((None, 8)); g.set_stage(1, alpha=0.5)
      >>> g(keras.random.normal((2, 8))).shape   # 8×8 image upsampled to 16×16
      (2, 16, 16, 3)

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §2-4, Table 2.
    """

    def __init__(self, resolution, latent_dim, num_classes=0, embedding_dim=None,
                 fmap_base=8192, fmap_max=512, output_channels=3, output_activation="linear",
                 **kwargs):
        super().__init__(**kwargs)
        self.num_stages = _check_resolution(resolution)
        _check_int("latent_dim", latent_dim, 1)
        _check_int("num_classes", num_classes, 0)
        if embedding_dim is not None:
            _check_int("embedding_dim", embedding_dim, 1)
        _check_int("fmap_base", fmap_base, 1)
        _check_int("fmap_max", fmap_max, 1)
        _check_int("output_channels", output_channels, 1)
        if output_activation not in _ACTIVATIONS:
            raise ValueError(
                f"`output_activation` must be one of {_ACTIVATIONS}, got {output_activation!r}.")
        self.resolution = resolution
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.fmap_base = fmap_base
        self.fmap_max = fmap_max
        self.output_channels = output_channels
        self.output_activation = output_activation

        self.channels = [stage_channels(s, fmap_base, fmap_max) for s in range(self.num_stages)]
        self.pixel_norm = PixelNorm(name="pixel_norm")
        self.dense = EqualizedDense(16 * self.channels[0], gain=0.125, name="dense_4x4")
        self.base_conv = EqualizedConv(self.channels[0], 3, name="conv_4x4")
        self.conv_a, self.conv_b, self.to_rgb = [], [], []
        for s in range(self.num_stages):
            r = 4 * 2 ** s
            if s:
                self.conv_a.append(EqualizedConv(self.channels[s], 3, name=f"conv0_{r}x{r}"))
                self.conv_b.append(EqualizedConv(self.channels[s], 3, name=f"conv1_{r}x{r}"))
            self.to_rgb.append(EqualizedConv(output_channels, 1, gain=1.0,
                                             name=f"to_rgb_{r}x{r}"))
        for prefix, layers in (("conv_a", self.conv_a), ("conv_b", self.conv_b),
                               ("to_rgb", self.to_rgb)):
            track_list(self, prefix, layers)
        self.fade_in = FadeIn(name="fade_in")

    def build(self, input_shape):
        z_shape = _main_shape(input_shape)
        if len(z_shape) != 2 or z_shape[-1] not in (None, self.latent_dim):
            raise ValueError(
                f"{self.name}: z must have shape [B, {self.latent_dim}], got {z_shape}.")
        width = self.latent_dim
        if self.num_classes:
            dim = self.embedding_dim or self.latent_dim
            self.class_embedding = self.add_weight(
                name="class_embedding", shape=(self.num_classes, dim),
                initializer=keras.initializers.RandomNormal(0.0, 1.0))
            width += dim
        self.dense.build((None, width))
        self.base_conv.build((None, 4, 4, self.channels[0]))
        for s in range(self.num_stages):
            r = 4 * 2 ** s
            if s:
                self.conv_a[s - 1].build((None, r, r, self.channels[s - 1]))
                self.conv_b[s - 1].build((None, r, r, self.channels[s]))
            self.to_rgb[s].build((None, r, r, self.channels[s]))
        self._add_growth_weights()

    def _features(self, x, stage):
        """Feature maps h_0..h_stage (h_s at 4·2^s)."""
        h = self.dense(x)
        h = ops.reshape(h, (-1, 4, 4, self.channels[0]))
        h = self.pixel_norm(_lrelu(h))
        h = self.pixel_norm(_lrelu(self.base_conv(h)))
        features = [h]
        for s in range(1, stage + 1):
            h = _upsample(h, 2)
            h = self.pixel_norm(_lrelu(self.conv_a[s - 1](h)))
            h = self.pixel_norm(_lrelu(self.conv_b[s - 1](h)))
            features.append(h)
        return features

    def _image_at_stage(self, stage, x, alpha):
        features = self._features(x, stage)
        image = self.to_rgb[stage](features[stage])
        if stage:
            previous = _upsample(self.to_rgb[stage - 1](features[stage - 1]), 2)
            image = self.fade_in(previous, image, alpha=alpha)
        if self.output_activation == "tanh":
            image = ops.tanh(image)
        return ops.cast(_upsample(image, 2 ** (self.num_stages - 1 - stage)), "float32")

    def call(self, inputs, training=None):
        z, labels = _split_inputs(inputs, self.num_classes, self.name)
        if len(z.shape) != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"{self.name}: z must have shape [B, {self.latent_dim}], got {tuple(z.shape)}.")
        x = ops.cast(z, self.compute_dtype)
        if self.num_classes:
            one_hot = _one_hot(labels, self.num_classes, self.compute_dtype, self.name)
            embedding = ops.matmul(one_hot, ops.cast(self.class_embedding, self.compute_dtype))
            x = ops.concatenate([x, embedding], axis=-1)
        x = self.pixel_norm(x)
        alpha = ops.cast(self.alpha, self.compute_dtype)
        branches = [functools.partial(self._image_at_stage, s) for s in range(self.num_stages)]
        return ops.switch(self._stage_index(), branches, x, alpha)

    def compute_output_spec(self, inputs, training=None):
        z, _ = _split_inputs(inputs, self.num_classes, self.name)
        shape = (z.shape[0], self.resolution, self.resolution, self.output_channels)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "resolution": self.resolution, "latent_dim": self.latent_dim,
            "num_classes": self.num_classes, "embedding_dim": self.embedding_dim,
            "fmap_base": self.fmap_base, "fmap_max": self.fmap_max,
            "output_channels": self.output_channels,
            "output_activation": self.output_activation})
        return config


@keras.saving.register_keras_serializable(package="tfbiggan")
class ProGANDiscriminator(_Growing):
    """Progressive GAN discriminator, the generator's mirror, with input-side fade-in.

    Input images [B, resolution, resolution, C] are average-pooled to the current stage's
    resolution r. At stage s: fromRGB_s (1×1 conv + LReLU) → block_s (two 3×3 conv + LReLU,
    2×2 average pool), faded with α against fromRGB_{s−1}(avg-pool(x)); then blocks s−1..1;
    then MinibatchStdDev → 3×3 conv → LReLU → EqualizedDense(C₀) on the flattened 4×4 map →
    LReLU → h, and logits = EqualizedDense(1)(h) + ⟨embed(y), h⟩ (projection conditioning,
    the embedding stored N(0, 1) and scaled by 1/√C₀ at run time). Logits are float32 [B, 1].
    A fresh model is at stage 0 (4×4).

    Args:
      resolution: target resolution, a power of two >= 4.
      num_classes: 0 for an unconditional model; otherwise call with (images, labels), labels
        integers [B] or one-hot/mixtures [B, num_classes].
      fmap_base, fmap_max: channel schedule (as the generator's).
      input_channels: image channels (3).
      mbstd_group_size: MinibatchStdDev group size (paper: 4).
      mbstd_grouping: MinibatchStdDev grouping: "strided" (the paper's) or "contiguous"
        (groups of consecutive examples: with `training.sort_by_class`, each group holds one
        kind, real or generated, and mostly one class, so the statistic sees within-class
        variety; see `tfbiggan.layers.MinibatchStdDev`).

    Call arguments:
      return_features: also return h [B, C₀] (e.g. for a feature-matching loss).

    Example:
      >>> d = ProGANDiscriminator(resolution=16, fmap_base=64, fmap_max=16)
      >>> d.build((None, 16, 16, 3)); d.set_stage(2)
      >>> d(keras.random.normal((4, 16, 16, 3))).shape
      (4, 1)

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §2-3, Table 2;
    projection: Miyato & Koyama 2018 (arXiv 1802.05637).
    """

    def __init__(self, resolution, num_classes=0, fmap_base=8192, fmap_max=512,
                 input_channels=3, mbstd_group_size=4, mbstd_grouping="strided", **kwargs):
        super().__init__(**kwargs)
        self.num_stages = _check_resolution(resolution)
        _check_int("num_classes", num_classes, 0)
        _check_int("fmap_base", fmap_base, 1)
        _check_int("fmap_max", fmap_max, 1)
        _check_int("input_channels", input_channels, 1)
        _check_int("mbstd_group_size", mbstd_group_size, 1)
        self.resolution = resolution
        self.num_classes = num_classes
        self.fmap_base = fmap_base
        self.fmap_max = fmap_max
        self.input_channels = input_channels
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_grouping = mbstd_grouping

        self.channels = [stage_channels(s, fmap_base, fmap_max) for s in range(self.num_stages)]
        self.from_rgb, self.conv_a, self.conv_b = [], [], []
        for s in range(self.num_stages):
            r = 4 * 2 ** s
            self.from_rgb.append(EqualizedConv(self.channels[s], 1, name=f"from_rgb_{r}x{r}"))
            if s:
                self.conv_a.append(EqualizedConv(self.channels[s], 3, name=f"conv0_{r}x{r}"))
                self.conv_b.append(EqualizedConv(self.channels[s - 1], 3,
                                                 name=f"conv1_{r}x{r}"))
        for prefix, layers in (("from_rgb", self.from_rgb), ("conv_a", self.conv_a),
                               ("conv_b", self.conv_b)):
            track_list(self, prefix, layers)
        self.fade_in = FadeIn(name="fade_in")
        self.minibatch_stddev = MinibatchStdDev(mbstd_group_size, grouping=mbstd_grouping,
                                                name="minibatch_stddev")
        self.final_conv = EqualizedConv(self.channels[0], 3, name="conv_4x4")
        self.final_dense = EqualizedDense(self.channels[0], name="dense_4x4")
        self.output_dense = EqualizedDense(1, gain=1.0, name="output")

    def build(self, input_shape):
        x_shape = _main_shape(input_shape)
        expected = (self.resolution, self.resolution, self.input_channels)
        if len(x_shape) != 4 or tuple(x_shape[1:]) != expected:
            raise ValueError(
                f"{self.name}: images must have shape [B, {', '.join(map(str, expected))}], "
                f"got {x_shape}.")
        for s in range(self.num_stages):
            r = 4 * 2 ** s
            self.from_rgb[s].build((None, r, r, self.input_channels))
            if s:
                self.conv_a[s - 1].build((None, r, r, self.channels[s]))
                self.conv_b[s - 1].build((None, r, r, self.channels[s]))
        c0 = self.channels[0]
        self.minibatch_stddev.build((None, 4, 4, c0))
        self.final_conv.build((None, 4, 4, c0 + 1))
        self.final_dense.build((None, 16 * c0))
        self.output_dense.build((None, c0))
        if self.num_classes:
            self.class_embedding = self.add_weight(
                name="class_embedding", shape=(self.num_classes, c0),
                initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self._add_growth_weights()

    def _block(self, s, h):
        h = _lrelu(self.conv_a[s - 1](h))
        h = _lrelu(self.conv_b[s - 1](h))
        return _downsample(h, 2)

    def _features_at_stage(self, stage, x, alpha):
        x = _downsample(x, 2 ** (self.num_stages - 1 - stage))
        h = _lrelu(self.from_rgb[stage](x))
        if stage:
            h = self._block(stage, h)
            previous = _lrelu(self.from_rgb[stage - 1](_downsample(x, 2)))
            h = self.fade_in(previous, h, alpha=alpha)
            for s in range(stage - 1, 0, -1):
                h = self._block(s, h)
        h = self.minibatch_stddev(h)
        h = _lrelu(self.final_conv(h))
        h = ops.reshape(h, (-1, 16 * self.channels[0]))
        return _lrelu(self.final_dense(h))

    def call(self, inputs, training=None, return_features=False):
        images, labels = _split_inputs(inputs, self.num_classes, self.name)
        expected = (self.resolution, self.resolution, self.input_channels)
        if len(images.shape) != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"{self.name}: images must have shape [B, {', '.join(map(str, expected))}], "
                f"got {tuple(images.shape)}.")
        x = ops.cast(images, self.compute_dtype)
        alpha = ops.cast(self.alpha, self.compute_dtype)
        branches = [functools.partial(self._features_at_stage, s)
                    for s in range(self.num_stages)]
        h = ops.switch(self._stage_index(), branches, x, alpha)
        logits = self.output_dense(h)
        if self.num_classes:
            one_hot = _one_hot(labels, self.num_classes, self.compute_dtype, self.name)
            scale = 1.0 / math.sqrt(self.channels[0])
            embedding = ops.matmul(one_hot, ops.cast(self.class_embedding, self.compute_dtype))
            logits = logits + scale * ops.sum(embedding * h, axis=-1, keepdims=True)
        logits = ops.cast(logits, "float32")
        if return_features:
            return logits, ops.cast(h, "float32")
        return logits

    def compute_output_spec(self, inputs, training=None, return_features=False):
        images, _ = _split_inputs(inputs, self.num_classes, self.name)
        logits = keras.KerasTensor((images.shape[0], 1), dtype="float32")
        if return_features:
            return logits, keras.KerasTensor((images.shape[0], self.channels[0]), "float32")
        return logits

    def get_config(self):
        config = super().get_config()
        config.update({
            "resolution": self.resolution, "num_classes": self.num_classes,
            "fmap_base": self.fmap_base, "fmap_max": self.fmap_max,
            "input_channels": self.input_channels,
            "mbstd_group_size": self.mbstd_group_size,
            "mbstd_grouping": self.mbstd_grouping})
        return config
