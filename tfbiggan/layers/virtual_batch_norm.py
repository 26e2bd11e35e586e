"""Virtual batch normalisation (Improved Techniques for Training GANs)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbiggan")
class VirtualBatchNorm(keras.layers.Layer):
    """Normalises each example with a fixed reference batch's statistics plus its own.

    The first call of the layer fixes the reference batch: its per-channel mean μ_r and biased
    variance σ_r² (over the batch and every position) and its size n are stored as
    non-trainable weights, so checkpoints and `.keras` files keep them, and later calls never
    change them (until `reset_reference()`). Every example x (that first batch included) is
    then normalised with the statistics of the virtual batch "reference batch + x":

      mean = (n·μ_r + μ_x) / (n + 1),   E[x²] = (n·E_r[x²] + E_x[x²]) / (n + 1),

    where μ_x, E_x[x²] are x's own per-channel moments (over its positions; x itself for
    [N, C] inputs). The variance E[x²] − mean² is evaluated in the equivalent cancellation-free
    form (n·σ_r² + σ_x²)/(n + 1) + n·(μ_r − μ_x)²/(n + 1)². Then
    y = γ·(x − mean)/sqrt(var + epsilon) + β. An example's output therefore does not depend on
    the other examples of its batch. The arithmetic runs in float32.

    Under a distribution strategy the reference statistics are those of the first replica's
    share of the first batch (the weights use "only_first_replica" aggregation); call the layer
    once on the intended reference batch before distributed training.

    Args:
      epsilon: added to the variance (1e-5).
      center: whether to learn the offset β.
      scale: whether to learn the gain γ.

    Example:
      >>> vbn = VirtualBatchNorm()
      >>> _ = vbn(reference_images)           # the first call fixes the reference batch
      >>> out = vbn(images)                   # every example: reference + itself

    Paper: Salimans et al. 2016, Improved Techniques for Training GANs (arXiv 1606.03498), §3.4.
    """

    def __init__(self, epsilon=1e-5, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise ValueError(f"`epsilon` must be a positive number, got {epsilon!r}.")
        for name, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise ValueError(f"`{name}` must be True or False, got {value!r}.")
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.channels = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected inputs [N, ..., C] of rank >= 2 with known channels, "
                f"got shape {tuple(input_shape)}.")
        self.channels = int(input_shape[-1])
        shape = (self.channels,)
        self.gamma = (self.add_weight(name="gamma", shape=shape, initializer="ones")
                      if self.scale else None)
        self.beta = (self.add_weight(name="beta", shape=shape, initializer="zeros")
                     if self.center else None)

        def state(name, shape, initializer):
            return self.add_weight(name=name, shape=shape, initializer=initializer,
                                   trainable=False, autocast=False,
                                   aggregation="only_first_replica")

        self.reference_mean = state("reference_mean", shape, "zeros")
        self.reference_variance = state("reference_variance", shape, "ones")
        self.reference_size = state("reference_size", (), "zeros")
        self.reference_initialized = state("reference_initialized", (), "zeros")

    def reset_reference(self):
        """Makes the next call fix a new reference batch."""
        self.reference_initialized.assign(0.0)

    def call(self, inputs, training=None):
        if len(inputs.shape) < 2 or inputs.shape[-1] != self.channels:
            raise ValueError(
                f"{self.name}: expected inputs [N, ..., {self.channels}], got shape "
                f"{tuple(inputs.shape)}.")
        x = ops.cast(inputs, "float32")
        rank = len(x.shape)
        # Fix the reference statistics on the first call; afterwards keep the stored ones.
        ready = ops.cast(self.reference_initialized, "float32") > 0.5
        batch_axes = tuple(range(rank - 1))
        batch_mean = ops.mean(x, axis=batch_axes)
        batch_var = ops.mean(ops.square(x - batch_mean), axis=batch_axes)
        batch_size = ops.cast(ops.shape(x)[0], "float32")
        ref_mean = ops.where(ready, self.reference_mean, batch_mean)
        ref_var = ops.where(ready, self.reference_variance, batch_var)
        n = ops.where(ready, self.reference_size, batch_size)
        self.reference_mean.assign(ref_mean)
        self.reference_variance.assign(ref_var)
        self.reference_size.assign(n)
        self.reference_initialized.assign(1.0)

        own_axes = tuple(range(1, rank - 1))
        if own_axes:
            own_mean = ops.mean(x, axis=own_axes, keepdims=True)
            own_var = ops.mean(ops.square(x - own_mean), axis=own_axes, keepdims=True)
        else:
            own_mean, own_var = x, ops.zeros_like(x)
        mean = (n * ref_mean + own_mean) / (n + 1.0)
        var = ((n * ref_var + own_var) / (n + 1.0)
               + n * ops.square(ref_mean - own_mean) / ops.square(n + 1.0))
        y = (x - mean) * ops.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * ops.cast(self.gamma, "float32")
        if self.beta is not None:
            y = y + ops.cast(self.beta, "float32")
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "center": self.center, "scale": self.scale})
        return config
