"""Batch normalisation for BigGAN generators: conditional gains and biases, cross-replica
statistics, exact standing statistics and a truncation-indexed bank of statistics.

Inference statistics, in order of precedence:
1. a `truncation` value given at inference and a bank of statistics (`num_truncation_stats`
   rows for t = 0, 1/(K-1), …, 1): the two nearest rows are interpolated linearly;
2. standing statistics, once any were accumulated (the exact mean of the batch moments over
   the forward passes run inside `accumulate_standing_statistics`);
3. the moving averages updated by training calls.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfbiggan import validation
from tfbiggan.layers import spectral_norm


class _BatchStatistics(keras.layers.Layer):
    """Batch moments, moving averages, standing statistics and the truncation bank."""

    def __init__(self, momentum=0.9, epsilon=1e-4, synchronized=False,
                 num_truncation_stats=51, **kwargs):
        super().__init__(**kwargs)
        self.momentum = validation.in_range("momentum", momentum, 0.0, 1.0)
        self.epsilon = validation.positive_float("epsilon", epsilon)
        self.synchronized = validation.boolean("synchronized", synchronized)
        self.num_truncation_stats = validation.truncation_rows(
            "num_truncation_stats", num_truncation_stats)
        self._accumulating = False

    def _build_statistics(self, channels):
        self.channels = channels

        def stat(name, shape, init):
            return self.add_weight(name=name, shape=shape, initializer=init, trainable=False,
                                   autocast=False, aggregation="mean")

        self.moving_mean = stat("moving_mean", (channels,), "zeros")
        self.moving_variance = stat("moving_variance", (channels,), "ones")
        self.standing_mean_sum = stat("standing_mean_sum", (channels,), "zeros")
        self.standing_variance_sum = stat("standing_variance_sum", (channels,), "zeros")
        self.standing_count = stat("standing_count", (), "zeros")
        if self.num_truncation_stats:
            rows = (self.num_truncation_stats, channels)
            self.bank_mean = stat("bank_mean", rows, "zeros")
            self.bank_variance = stat("bank_variance", rows, "ones")

    def _statistics(self, x, training, truncation):
        """Returns float32 (mean, variance) per channel; updates state in training."""
        if training:
            axes = list(range(len(x.shape) - 1))
            mean, variance = ops.moments(x, axes=axes, synchronized=self.synchronized)
            self._record_batch_statistics(mean, variance, variance * self._bessel(x))
            return mean, variance
        if truncation is not None and self.num_truncation_stats:
            return self._bank_statistics(truncation)
        count = ops.convert_to_tensor(self.standing_count)
        has_standing = count > 0
        safe_count = ops.maximum(count, 1.0)
        mean = ops.where(has_standing, self.standing_mean_sum / safe_count, self.moving_mean)
        variance = ops.where(has_standing, self.standing_variance_sum / safe_count,
                             self.moving_variance)
        return mean, variance

    def _bessel(self, x):
        """n / (n − 1) for the n values per channel behind the batch statistics of `x` (over
        all replicas when synchronised): biased variance × this = unbiased variance."""
        count = ops.cast(ops.prod(ops.shape(x)[:-1]), "float32")
        if self.synchronized:
            count = count * _num_replicas_in_sync()
        return count / ops.maximum(count - 1.0, 1.0)

    def _record_batch_statistics(self, mean, variance, unbiased):
        """Adds batch moments to the standing sums, or to the moving averages. The moving
        variance tracks the unbiased batch variance (as in PyTorch and BigGAN-PyTorch);
        normalisation and standing statistics use the biased one."""
        if self._accumulating:
            self.standing_mean_sum.assign_add(mean)
            self.standing_variance_sum.assign_add(variance)
            self.standing_count.assign_add(1.0)
        else:
            self.moving_mean.assign(
                self.momentum * self.moving_mean + (1.0 - self.momentum) * mean)
            self.moving_variance.assign(
                self.momentum * self.moving_variance + (1.0 - self.momentum) * unbiased)

    def _bank_statistics(self, truncation):
        rows = self.num_truncation_stats
        position = ops.clip(ops.cast(truncation, "float32"), 0.0, 1.0) * (rows - 1)
        low = ops.clip(ops.floor(position), 0.0, rows - 2)
        frac = position - low
        low = ops.cast(low, "int32")
        bank_mean = ops.convert_to_tensor(self.bank_mean)
        bank_variance = ops.convert_to_tensor(self.bank_variance)
        mean = (1.0 - frac) * ops.take(bank_mean, low, axis=0) + frac * ops.take(
            bank_mean, low + 1, axis=0)
        variance = (1.0 - frac) * ops.take(bank_variance, low, axis=0) + frac * ops.take(
            bank_variance, low + 1, axis=0)
        return mean, variance

    def _affine(self, x, training, truncation, gain, bias):
        """gain · (x − mean) / √(variance + ε) + bias. Training calls on NHWC batches with local
        statistics use the fused kernel (`_fused_affine`); otherwise the transform is folded
        into one scale and one shift (x · s + (bias − mean · s) with s = gain / √(variance + ε),
        BigGAN-PyTorch's `fused_bn`): two passes over x instead of four, forward and backward.

        `gain` and `bias` are float32 [C] or per-example [B, C]."""
        x32 = ops.cast(x, "float32")
        if training and len(x.shape) == 4 and not (
                self.synchronized and _num_replicas_in_sync() > 1):
            return ops.cast(self._fused_affine(x32, gain, bias), self.compute_dtype)
        mean, variance = self._statistics(x32, training, truncation)
        scale = gain * ops.rsqrt(variance + self.epsilon)
        shift = bias - mean * scale
        if len(x.shape) == 4 and len(scale.shape) == 2:
            scale, shift = scale[:, None, None, :], shift[:, None, None, :]
        return ops.cast(x32 * scale + shift, self.compute_dtype)

    def _fused_affine(self, x, gain, bias):
        """Training-mode `_affine` of a float32 NHWC batch with local statistics, through one
        fused batch-norm kernel forward and one backward (oneDNN on CPUs, XLA on TPUs).

        A per-channel gain and bias go into the kernel; per-example ones are applied to its
        normalised output. Same values as the unfused path to float32 rounding."""
        per_channel = len(gain.shape) == 1
        channels = (x.shape[-1],)
        y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            x, gain if per_channel else ops.ones(channels, "float32"),
            bias if per_channel else ops.zeros(channels, "float32"),
            epsilon=self.epsilon, is_training=True)
        self._record_batch_statistics(mean, unbiased / self._bessel(x), unbiased)
        if per_channel:
            return y
        return y * gain[:, None, None, :] + bias[:, None, None, :]

    # Standing statistics -----------------------------------------------------------------

    def reset_standing_statistics(self):
        self.standing_mean_sum.assign(ops.zeros_like(self.standing_mean_sum))
        self.standing_variance_sum.assign(ops.zeros_like(self.standing_variance_sum))
        self.standing_count.assign(0.0)

    def standing_statistics(self):
        """The accumulated standing (mean, variance) as NumPy arrays."""
        count = max(float(self.standing_count.numpy()), 1.0)
        return (self.standing_mean_sum.numpy() / count,
                self.standing_variance_sum.numpy() / count)

    def store_standing_in_bank(self, row):
        """Copies the current standing statistics into row `row` of the truncation bank."""
        if not self.num_truncation_stats:
            raise ValueError(f"{self.name} has no truncation bank (num_truncation_stats=0).")
        row = validation.positive_int("row", row, allow_zero=True)
        if row >= self.num_truncation_stats:
            raise ValueError(f"`row` must be < {self.num_truncation_stats}, got {row}.")
        mean, variance = self.standing_statistics()
        bank_mean = self.bank_mean.numpy()
        bank_variance = self.bank_variance.numpy()
        bank_mean[row], bank_variance[row] = mean, variance
        self.bank_mean.assign(bank_mean)
        self.bank_variance.assign(bank_variance)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "epsilon": self.epsilon,
                       "synchronized": self.synchronized,
                       "num_truncation_stats": self.num_truncation_stats})
        return config


def _num_replicas_in_sync():
    context = tf.distribute.get_replica_context()
    return float(context.num_replicas_in_sync if context is not None else 1)


def batch_norm_layers(model):
    """Every tfbiggan batch-norm layer inside `model` (itself included)."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
            if isinstance(layer, _BatchStatistics)]


def truncation_bank_is_filled(model):
    """True when `model` has a truncation bank holding collected statistics (an unfilled bank
    is all zero means and unit variances, which no model's activations have)."""
    if not getattr(model, "num_truncation_stats", 0):
        return False
    layers = [layer for layer in batch_norm_layers(model) if hasattr(layer, "bank_mean")]
    return any(np.any(layer.bank_mean.numpy()) or np.any(layer.bank_variance.numpy() != 1.0)
               for layer in layers)


@contextlib.contextmanager
def accumulate_standing_statistics(model):
    """Within this context, training-mode calls of `model` accumulate standing statistics.

    The moving averages are left untouched. Statistics are reset on entry. Build any
    `tf.function` that runs the model inside the context (the flag is read when tracing).
    """
    layers = batch_norm_layers(model)
    for layer in layers:
        layer.reset_standing_statistics()
        layer._accumulating = True  # pylint: disable=protected-access
    try:
        yield layers
    finally:
        for layer in layers:
            layer._accumulating = False  # pylint: disable=protected-access


def _split_pair(x, condition, what):
    """(x, condition) from two arguments or from a list [x, condition] given as `x`."""
    if condition is not None:
        return x, condition
    if isinstance(x, (list, tuple)) and len(x) == 2 and not isinstance(x[0], (int, type(None))):
        return x[0], x[1]
    raise ValueError(f"ConditionalBN needs `x` and `condition`: pass them as two arguments or "
                     f"as the list [x, condition]; got {what} {x!r} without a condition.")


@keras.saving.register_keras_serializable(package="tfbiggan")
class ConditionalBN(_BatchStatistics):
    """Conditional batch normalisation: out = x̂ · (1 + W_γ·c) + W_β·c.

    The normalisation has no affine parameters of its own; the gain is centred at 1 and the
    bias at 0. W_γ and W_β are bias-free linear maps of the condition c, spectrally normalised
    by default (BigGAN's shared embedding + hierarchical z). With
    `use_spectral_norm=False` they are plain linear maps, which applied to a one-hot class
    vector are the per-layer class embeddings of the SA-GAN / CIFAR recipe.

    Args:
      momentum: moving-average momentum (Keras convention; PyTorch 0.1 = 0.9 here).
      epsilon: added to the variance (paper and TF-Hub 1e-4, BigGAN-PyTorch 1e-5).
      synchronized: batch statistics across all replicas (cross-replica BN).
      num_truncation_stats: rows of the truncation-indexed statistics bank (0 = none).
      use_spectral_norm: spectrally normalise the projections.
      sn_epsilon, num_power_iterations: spectral-norm settings of the projections.
      kernel_initializer: initializer of the projections.

    Call arguments: `x` [B, H, W, C] (or [B, C]), `condition` [B, D], `training`, and
    `truncation` (scalar) to select statistics from the bank at inference. Like Keras's
    multi-input layers it also takes the list `[x, condition]` as its one input.

    Example:
      >>> cbn = ConditionalBN()
      >>> h = cbn(h, condition, training=True)
      >>> h = cbn([h, condition], training=True)         # the same

    Reference: de Vries et al. 2017; Dumoulin et al. 2017; Brock et al. 2019 (App. B).
    """

    def __init__(self, momentum=0.9, epsilon=1e-4, synchronized=False,
                 num_truncation_stats=51, use_spectral_norm=True, sn_epsilon=1e-4,
                 num_power_iterations=1, kernel_initializer="orthogonal", **kwargs):
        super().__init__(momentum, epsilon, synchronized, num_truncation_stats, **kwargs)
        self.use_spectral_norm = validation.boolean("use_spectral_norm", use_spectral_norm)
        self.sn_epsilon = validation.positive_float("sn_epsilon", sn_epsilon)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _projection(self, channels, name):
        if self.use_spectral_norm:
            return spectral_norm.SpectralNormDense(
                channels, use_bias=False, num_power_iterations=self.num_power_iterations,
                epsilon=self.sn_epsilon, kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy, name=name)
        return keras.layers.Dense(channels, use_bias=False,
                                  kernel_initializer=self.kernel_initializer,
                                  dtype=self.dtype_policy, name=name)

    def build(self, x_shape, condition_shape=None):
        x_shape, condition_shape = _split_pair(x_shape, condition_shape, "input shapes")
        input_shape = x_shape
        if len(input_shape) not in (2, 4):
            raise ValueError(f"ConditionalBN expects `x` of rank 2 or 4, "
                             f"got shape {tuple(input_shape)}.")
        validation.check_rank("ConditionalBN", "condition", condition_shape, 2)
        channels = input_shape[-1]
        self._condition_dim = condition_shape[-1]
        self._build_statistics(channels)
        self.gain = self._projection(channels, "gain")
        self.bias = self._projection(channels, "bias")
        self.gain.build(tuple(condition_shape))
        self.bias.build(tuple(condition_shape))

    def call(self, x, condition=None, training=False, truncation=None):
        x, condition = _split_pair(x, condition, "inputs")
        if len(x.shape) not in (2, 4):
            raise ValueError(f"ConditionalBN expects `x` of rank 2 or 4, got shape "
                             f"{tuple(x.shape)}.")
        validation.check_last_dim("ConditionalBN", "x", x.shape, self.channels)
        validation.check_rank("ConditionalBN", "condition", condition.shape, 2)
        validation.check_last_dim("ConditionalBN", "condition", condition.shape,
                                  self._condition_dim)
        gain = 1.0 + ops.cast(self.gain(condition, training=training), "float32")
        bias = ops.cast(self.bias(condition, training=training), "float32")
        return self._affine(x, training, truncation, gain, bias)

    def compute_output_shape(self, x_shape, condition_shape=None):
        x_shape, _ = _split_pair(x_shape, condition_shape, "input shapes")
        return tuple(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "use_spectral_norm": self.use_spectral_norm, "sn_epsilon": self.sn_epsilon,
            "num_power_iterations": self.num_power_iterations,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


@keras.saving.register_keras_serializable(package="tfbiggan")
class StandingBatchNorm(_BatchStatistics):
    """Unconditional batch normalisation with a learned gain and bias, and the same choice of
    inference statistics as `ConditionalBN` (moving, standing, truncation bank).

    BigGAN's generator uses it before its output convolution.

    Args:
      momentum, epsilon, synchronized, num_truncation_stats: as for `ConditionalBN`.

    Example:
      >>> bn = StandingBatchNorm(epsilon=1e-4)
      >>> h = bn(h, training=True)

    Reference: Ioffe & Szegedy 2015; Brock et al. 2019 (standing statistics, App. C.1).
    """

    def build(self, input_shape):
        if len(input_shape) not in (2, 4):
            raise ValueError(f"StandingBatchNorm expects inputs of rank 2 or 4, "
                             f"got shape {tuple(input_shape)}.")
        channels = input_shape[-1]
        self._build_statistics(channels)
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones",
                                     autocast=False)
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros",
                                    autocast=False)

    def call(self, x, training=False, truncation=None):
        validation.check_last_dim("StandingBatchNorm", "x", x.shape, self.channels)
        return self._affine(x, training, truncation, ops.convert_to_tensor(self.gamma),
                            ops.convert_to_tensor(self.beta))

    def compute_output_shape(self, input_shape):
        return input_shape
