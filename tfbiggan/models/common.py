"""Input handling and layers shared by the BigGAN and BigGAN-deep models."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfbiggan import validation
from tfbiggan.layers.minibatch_discrimination import MinibatchDiscrimination
from tfbiggan.layers.normalization import StandingBatchNorm
from tfbiggan.layers.spectral_norm import SpectralNormConv, SpectralNormDense, \
    SpectralNormEmbedding


def class_vectors(model_name, y, num_classes):
    """Int class ids [B] → one-hot float32 [B, K]; float [B, K] (one-hot or mixture) as is.

    Out-of-range ids raise a ValueError when called eagerly (and an InvalidArgumentError from
    a graph assertion otherwise).
    """
    y = tf.convert_to_tensor(y)
    if y.dtype.is_integer:
        validation.check_rank(model_name, "y (class ids)", y.shape, 1)
        if tf.executing_eagerly():
            values = y.numpy()
            bad = values[(values < 0) | (values >= num_classes)]
            if bad.size:
                raise ValueError(f"{model_name}: class ids must be in [0, {num_classes}), "
                                 f"got {bad.tolist()[:5]}.")
        return tf.one_hot(y, num_classes, dtype="float32")
    if not y.dtype.is_floating:
        raise ValueError(f"{model_name}: `y` must be int class ids [B] or float class "
                         f"vectors [B, {num_classes}], got dtype {y.dtype.name}.")
    if len(y.shape) != 2 or (y.shape[-1] is not None and y.shape[-1] != num_classes):
        raise ValueError(f"{model_name}: float `y` must have shape [B, {num_classes}] "
                         f"(one-hot or a mixture of classes), got {tuple(y.shape)}.")
    return tf.cast(y, "float32")


def check_batch_match(model_name, first_name, first, second_name, second):
    a, b = first.shape[0], second.shape[0]
    if a is not None and b is not None and a != b:
        raise ValueError(f"{model_name}: `{first_name}` has batch size {a} but "
                         f"`{second_name}` has {b}.")


def check_latent(model_name, z, dim_z):
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_floating:
        raise ValueError(f"{model_name}: `z` must be float, got dtype {z.dtype.name}.")
    if len(z.shape) != 2 or (z.shape[-1] is not None and z.shape[-1] != dim_z):
        raise ValueError(f"{model_name}: `z` must have shape [B, {dim_z}], "
                         f"got {tuple(z.shape)}.")
    return z


def check_images(model_name, images, resolution):
    images = tf.convert_to_tensor(images)
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1] != resolution or shape[2] != resolution:
        raise ValueError(f"{model_name}: images must have shape [B, {resolution}, "
                         f"{resolution}, C] (square, at the model's resolution), got {shape}.")
    return images


class OutputLayer(keras.layers.Layer):
    """Generator output: BN (gain, bias) → ReLU → SN 3×3 conv → keep `out_channels` → tanh."""

    def __init__(self, conv_channels, out_channels, bn_settings, sn_settings, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = out_channels
        self.bn = StandingBatchNorm(**bn_settings, dtype=self.dtype_policy, name="bn")
        self.conv = SpectralNormConv(conv_channels, 3, **sn_settings,
                                     dtype=self.dtype_policy, name="conv")

    def build(self, input_shape):
        self.bn.build(input_shape)
        self.conv.build(input_shape)

    def call(self, h, training=False, truncation=None):
        h = ops.relu(self.bn(h, training=training, truncation=truncation))
        h = self.conv(h, training=training)[..., :self.out_channels]
        return ops.tanh(ops.cast(h, "float32"))


class ProjectionHead(keras.layers.Layer):
    """Discriminator head: ReLU → global sum pool → SN linear(1) + Σ SN-embed(y) · h.

    With `minibatch_kernels` > 0 the pooled features h [B, C] also go through minibatch
    discrimination (Salimans et al. 2016, §3.2): the closeness features o [B, kernels]
    (`MinibatchDiscrimination`, the example itself left out of the sum) are concatenated to h
    and the SN linear reads [h, o] (one spectrally normalised kernel [C + kernels, 1]); the
    class projection stays ⟨SN-embed(y), h⟩ and the returned features stay h. Minibatch
    discrimination runs in float32 on the float32 pooled features.

    Args:
      num_classes: number of classes (0: no projection term).
      channels: C, the width of the pooled features.
      sn_settings: keyword arguments of the spectrally normalised layers.
      minibatch_kernels: number of closeness features (0: no minibatch discrimination).
      minibatch_kernel_dim: dimension of each projected row of minibatch discrimination.
    """

    def __init__(self, num_classes, channels, sn_settings, minibatch_kernels=0,
                 minibatch_kernel_dim=8, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.minibatch_kernels = validation.positive_int(
            "minibatch_kernels", minibatch_kernels, allow_zero=True)
        self.minibatch_kernel_dim = validation.positive_int(
            "minibatch_kernel_dim", minibatch_kernel_dim)
        self.linear = SpectralNormDense(1, **sn_settings, dtype=self.dtype_policy,
                                        name="linear")
        self.linear.build((None, channels + self.minibatch_kernels))
        self.embed = None
        if num_classes:
            self.embed = SpectralNormEmbedding(num_classes, channels, **sn_settings,
                                               dtype=self.dtype_policy, name="embed")
            self.embed.build((None,))
        self.minibatch = None
        if self.minibatch_kernels:
            self.minibatch = MinibatchDiscrimination(
                self.minibatch_kernels, self.minibatch_kernel_dim, dtype="float32",
                name="minibatch_discrimination")
            self.minibatch.build((None, channels))

    def call(self, h, y_onehot, training=False):
        features = ops.sum(ops.relu(ops.cast(h, "float32")), axis=(1, 2))
        head_inputs = features
        if self.minibatch is not None:  # [h, closeness]: the layer appends its features.
            head_inputs = self.minibatch(features)
        logits = self.linear(ops.cast(head_inputs, self.compute_dtype), training=training)[:, 0]
        logits = ops.cast(logits, "float32")
        if self.embed is not None:
            embedding = ops.cast(self.embed(y_onehot, training=training), "float32")
            logits = logits + ops.sum(embedding * features, axis=-1)
        return logits, features


def sn_settings(sn_epsilon, num_power_iterations, kernel_initializer):
    return {"epsilon": sn_epsilon, "num_power_iterations": num_power_iterations,
            "kernel_initializer": kernel_initializer}


def count_trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def check_last_dim_channels(model_name, images, channels):
    if images.shape[-1] != channels:
        raise ValueError(f"{model_name}: images must have {channels} channels, got shape "
                         f"{tuple(images.shape)}.")


def model_from_config(cls, config):
    """`from_config` of the BigGAN models: restores the dtype policy and tuple arguments."""
    config = dict(config)
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
    if "attention" in config:
        config["attention"] = tuple(config["attention"] or ())
    return cls(**config)


def attention_layer(model, index, shape):
    """A SelfAttention named `attention{index}` with the model's settings, built for `shape`."""
    from tfbiggan.layers.attention import SelfAttention  # pylint: disable=import-outside-toplevel
    layer = SelfAttention(model.num_power_iterations, model.sn_epsilon, model.kernel_initializer,
                          dtype=model.dtype_policy, name=f"attention{index}")
    layer.build(shape)
    return layer


def output_layer(model, conv_channels, shape, sn):
    """The generator's output layer (BN → ReLU → SN conv → tanh), built for `shape`."""
    layer = OutputLayer(
        conv_channels, model.out_channels,
        {"epsilon": model.bn_epsilon, "momentum": model.bn_momentum,
         "synchronized": model.synchronized_bn,
         "num_truncation_stats": model.num_truncation_stats},
        sn, dtype=model.dtype_policy, name="output")
    layer.build(shape)
    return layer


def run_stack(model, h, training, conditions=None, truncation=None, before_last=None):
    """Runs the residual blocks with their self-attention layers.

    `conditions` (one per block) is given for generator blocks, None for discriminator blocks;
    `before_last` (a layer or None) transforms the input of the last block.
    """
    last = len(model.blocks) - 1
    for index, (block, attention) in enumerate(zip(model.blocks, model.attention_layers)):
        if before_last is not None and index == last:
            h = before_last(h)
        if conditions is None:
            h = block(h, training=training)
        else:
            h = block(h, conditions[index], training=training, truncation=truncation)
        if attention is not None:
            h = attention(h, training=training)
    return h


def generator_inputs(model, z, y):
    """Validated (z float [B, dim_z], y float class vectors [B, K]) in the compute dtype."""
    name = type(model).__name__
    z = check_latent(name, z, model.dim_z)
    y = class_vectors(name, y, model.num_classes)
    check_batch_match(name, "z", z, "y", y)
    return ops.cast(z, model.compute_dtype), ops.cast(y, model.compute_dtype)


def discriminator_inputs(model, images, y):
    """Validated (images in the compute dtype, one-hot y or None)."""
    name = type(model).__name__
    images = check_images(name, images, model.resolution)
    check_last_dim_channels(name, images, model.in_channels)
    y_onehot = None
    if model.num_classes:
        if y is None:
            raise ValueError(f"{name}: a class-conditional discriminator needs `y`.")
        y_onehot = class_vectors(name, y, model.num_classes)
        check_batch_match(name, "images", images, "y", y_onehot)
    return ops.cast(images, model.compute_dtype), y_onehot
