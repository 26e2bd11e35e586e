"""Pixelwise feature-vector normalisation (Progressive GAN)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbiggan")
class PixelNorm(keras.layers.Layer):
    """Normalises every feature vector to unit root-mean-square.

    b = a / sqrt(mean(a², channel axis) + epsilon), applied independently at every position
    (and every example). It has no weights. The arithmetic runs in float32 under a
    mixed-precision policy; the output has the layer's compute dtype.

    Args:
      epsilon: small positive number added inside the square root (paper: 1e-8).
      axis: the channel axis (default -1, NHWC).

    Example:
      >>> norm = PixelNorm()
      >>> norm(keras.ops.ones((2, 4, 4, 8))).shape
      (2, 4, 4, 8)

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §4.2.
    """

    def __init__(self, epsilon=1e-8, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"`epsilon` must be a non-negative number, got {epsilon!r}.")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"`axis` must be an integer, got {axis!r}.")
        self.epsilon = epsilon
        self.axis = axis

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2 or not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"{self.name}: `axis`={self.axis} is not a feature axis of an input of shape "
                f"{tuple(input_shape)} (needs rank >= 2 and an axis other than the batch).")

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        inv = ops.rsqrt(ops.mean(ops.square(x), axis=self.axis, keepdims=True) + self.epsilon)
        return ops.cast(x * inv, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "axis": self.axis})
        return config
