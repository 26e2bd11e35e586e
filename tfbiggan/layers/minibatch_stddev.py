"""Minibatch standard deviation feature map (Progressive GAN)."""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="tfbiggan")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the average within-group standard deviation as one extra feature map.

    The batch of N examples is split into groups of G = min(group_size, N) examples (N must be
    divisible by G). As in the paper's reference code the groups are strided by default: with
    M = N / G, example n belongs to group n mod M; `grouping="contiguous"` makes example n
    belong to group n // G instead, so that a batch made of blocks (real images then fakes,
    each sorted by class) is grouped within its blocks. For every group, the biased standard
    deviation over its G members is taken per feature and position,
    sqrt(mean((x − mean)²) + epsilon), then averaged over all features and positions into one
    number, which is broadcast as a constant feature map appended after the channels of every member of the group.
    Inputs are [N, ..., C] (NHWC images or [N, C] vectors); outputs [N, ..., C + 1].
    The statistics are computed in float32.

    Args:
      group_size: examples per group (paper: 4); capped at the batch size.
      epsilon: added inside the square root (1e-8).
      grouping: "strided" (the paper's) or "contiguous" (see above).

    Example:
      >>> layer = MinibatchStdDev(group_size=4)
      >>> layer(keras.ops.ones((8, 4, 4, 16))).shape
      (8, 4, 4, 17)

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §3.
    """

    GROUPINGS = ("strided", "contiguous")

    def __init__(self, group_size=4, epsilon=1e-8, grouping="strided", **kwargs):
        super().__init__(**kwargs)
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"`group_size` must be a positive integer, got {group_size!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"`epsilon` must be a non-negative number, got {epsilon!r}.")
        if grouping not in self.GROUPINGS:
            raise ValueError(f"`grouping` must be one of {self.GROUPINGS}, got {grouping!r}.")
        self.group_size = group_size
        self.epsilon = epsilon
        self.grouping = grouping

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected inputs [N, ..., C] of rank >= 2 with known channels, "
                f"got shape {tuple(input_shape)}.")

    def call(self, inputs):
        if len(inputs.shape) < 2:
            raise ValueError(
                f"{self.name}: expected inputs of rank >= 2, got shape {tuple(inputs.shape)}.")
        batch = inputs.shape[0]
        if batch is not None:
            group = min(self.group_size, batch)
            if batch % group:
                raise ValueError(
                    f"{self.name}: the batch size ({batch}) must be divisible by the group "
                    f"size min(group_size={self.group_size}, batch) = {group}.")
        else:
            batch = ops.shape(inputs)[0]
            group = ops.minimum(self.group_size, batch)
            tf.debugging.assert_equal(
                batch % group, 0,
                message=f"{self.name}: the batch size must be divisible by the group size")
        feature_shape = tuple(inputs.shape[1:])
        x = ops.cast(inputs, "float32")
        if self.grouping == "strided":
            y = ops.reshape(x, (group, -1) + feature_shape)  # [G, M, ...]: n -> (n // M, n % M)
            member_axis = 0
        else:
            y = ops.reshape(x, (-1, group) + feature_shape)  # [M, G, ...]: n -> (n // G, n % G)
            member_axis = 1
        y = y - ops.mean(y, axis=member_axis, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(y), axis=member_axis) + self.epsilon)  # [M, ...]
        std = ops.mean(std, axis=tuple(range(1, len(feature_shape) + 1)))  # [M]
        if self.grouping == "strided":
            std = ops.tile(std, (group,))  # [N]: example n gets group n mod M
        else:
            std = ops.repeat(std, group, axis=0)  # [N]: example n gets group n // G
        fmap = ops.ones_like(x[..., :1]) * ops.reshape(std, (-1,) + (1,) * len(feature_shape))
        return ops.concatenate([inputs, ops.cast(fmap, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else input_shape[-1] + 1
        return tuple(input_shape[:-1]) + (channels,)

    def get_config(self):
        config = super().get_config()
        config.update({"group_size": self.group_size, "epsilon": self.epsilon,
                       "grouping": self.grouping})
        return config
