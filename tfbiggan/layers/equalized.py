"""Equalised-learning-rate convolution and dense layers (Progressive GAN).

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018 (arXiv 1710.10196), §4.1: weights are stored with a unit normal initialisation and
multiplied at run time by He's constant sqrt(gain / fan_in), so that every weight sees the same
effective learning rate under adaptive optimisers. Biases start at zero and are not scaled.
"""

import math

import keras
from keras import ops


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _check_gain(gain):
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
        raise ValueError(f"`gain` must be a positive number, got {gain!r}.")


@keras.saving.register_keras_serializable(package="tfbiggan")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with an equalised learning rate.

    y = x · (W · sqrt(gain / fan_in)) + b with W ~ N(0, 1) stored, fan_in the input width and
    b initialised to zero. `gain` is the variance gain: 2 is He's constant for (leaky) ReLU,
    1 suits a linear output.

    Args:
      units: output width.
      gain: variance gain of the run-time scale sqrt(gain / fan_in) (default 2).
      use_bias: whether to add a bias (initialised to zero).

    Example:
      >>> layer = EqualizedDense(8)
      >>> layer(keras.ops.ones((2, 4))).shape
      (2, 8)

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §4.1.
    """

    def __init__(self, units, gain=2.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("units", units)
        _check_gain(gain)
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be True or False, got {use_bias!r}.")
        self.units = units
        self.gain = gain
        self.use_bias = use_bias
        self.input_dim = None

    @property
    def scale(self):
        """The run-time multiplier sqrt(gain / fan_in) applied to the stored kernel."""
        return math.sqrt(self.gain / self.input_dim)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected an input of rank >= 2 with a known last dimension, "
                f"got shape {tuple(input_shape)}.")
        self.input_dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(self.input_dim, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, inputs):
        if len(inputs.shape) < 2 or inputs.shape[-1] != self.input_dim:
            raise ValueError(
                f"{self.name}: expected inputs of shape [..., {self.input_dim}], "
                f"got {tuple(inputs.shape)}.")
        kernel = ops.cast(self.kernel, self.compute_dtype) * ops.cast(self.scale,
                                                                       self.compute_dtype)
        outputs = ops.matmul(inputs, kernel)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "gain": self.gain, "use_bias": self.use_bias})
        return config


@keras.saving.register_keras_serializable(package="tfbiggan")
class EqualizedConv(keras.layers.Layer):
    """2-D convolution (NHWC, stride 1, "same" padding) with an equalised learning rate.

    The stored kernel [kh, kw, in, out] ~ N(0, 1) is multiplied at run time by
    sqrt(gain / (kh · kw · in)); the bias starts at zero.

    Args:
      filters: number of output channels.
      kernel_size: odd positive integer, the square kernel's side (3 for blocks, 1 for
        toRGB / fromRGB).
      gain: variance gain of the run-time scale (2 for (leaky) ReLU, 1 for a linear output).
      use_bias: whether to add a bias (initialised to zero).

    Example:
      >>> conv = EqualizedConv(16, 3)
      >>> conv(keras.ops.ones((2, 8, 8, 4))).shape
      (2, 8, 8, 16)

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §4.1.
    """

    def __init__(self, filters, kernel_size=3, gain=2.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("filters", filters)
        _check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 != 1:
            raise ValueError(
                f"`kernel_size` must be odd (stride 1, 'same' padding), got {kernel_size!r}.")
        _check_gain(gain)
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be True or False, got {use_bias!r}.")
        self.filters = filters
        self.kernel_size = kernel_size
        self.gain = gain
        self.use_bias = use_bias
        self.input_channels = None

    @property
    def scale(self):
        """The run-time multiplier sqrt(gain / fan_in) applied to the stored kernel."""
        return math.sqrt(self.gain / (self.kernel_size ** 2 * self.input_channels))

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected NHWC inputs of rank 4 with known channels, "
                f"got shape {tuple(input_shape)}.")
        self.input_channels = int(input_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, self.input_channels, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, inputs):
        if len(inputs.shape) != 4 or inputs.shape[-1] != self.input_channels:
            raise ValueError(
                f"{self.name}: expected NHWC inputs [N, H, W, {self.input_channels}], "
                f"got {tuple(inputs.shape)}.")
        kernel = ops.cast(self.kernel, self.compute_dtype) * ops.cast(self.scale,
                                                                       self.compute_dtype)
        outputs = ops.conv(inputs, kernel, strides=1, padding="same",
                           data_format="channels_last")
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size,
                       "gain": self.gain, "use_bias": self.use_bias})
        return config
