"""Minibatch discrimination (Improved Techniques for Training GANs)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbiggan")
class MinibatchDiscrimination(keras.layers.Layer):
    """Appends features measuring how close each example is to the others in its batch.

    With inputs x ∈ R^{N×A} and a learned tensor T ∈ R^{A×B×C}: M = x·T ∈ R^{N×B×C},
    c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_1) and o(x_i)_b = Σ_j c_b(x_i, x_j), the sum over
    the examples j of the same batch (on each replica, under a distribution strategy). The
    output is concat(x, o) ∈ R^{N×(A+B)}.

    By default the example itself is left out of the sum (j ≠ i), as in the paper's released
    code; with `include_self=True` it is included and adds exactly 1 to every o_b. The
    distances are computed in float32.

    Args:
      num_kernels: B, the number of extra features.
      kernel_dim: C, the dimension of each projected row M_{i,b}.
      include_self: whether j = i is part of the sum (default False).
      kernel_initializer: initialiser of T (default N(0, 0.05²), Keras "random_normal").

    Example:
      >>> layer = MinibatchDiscrimination(num_kernels=16, kernel_dim=4)
      >>> layer(keras.ops.ones((8, 32))).shape
      (8, 48)

    Paper: Salimans et al. 2016, Improved Techniques for Training GANs (arXiv 1606.03498), §3.2.
    """

    def __init__(self, num_kernels, kernel_dim, include_self=False,
                 kernel_initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_kernels", num_kernels), ("kernel_dim", kernel_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not isinstance(include_self, bool):
            raise ValueError(f"`include_self` must be True or False, got {include_self!r}.")
        try:
            keras.initializers.get(kernel_initializer)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"`kernel_initializer` must be a Keras initializer or its name, got "
                f"{kernel_initializer!r}.") from error
        self.num_kernels = num_kernels
        self.kernel_dim = kernel_dim
        self.include_self = include_self
        self.kernel_initializer = kernel_initializer
        self.input_dim = None

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected inputs [N, features] with known width, got shape "
                f"{tuple(input_shape)}.")
        self.input_dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(self.input_dim, self.num_kernels, self.kernel_dim),
            initializer=keras.initializers.get(self.kernel_initializer))

    def call(self, inputs):
        if len(inputs.shape) != 2 or inputs.shape[-1] != self.input_dim:
            raise ValueError(
                f"{self.name}: expected inputs [N, {self.input_dim}], got shape "
                f"{tuple(inputs.shape)}.")
        x = ops.cast(inputs, "float32")
        kernel = ops.cast(self.kernel, "float32")
        m = ops.einsum("na,abc->nbc", x, kernel)  # [N, B, C]
        l1 = ops.sum(ops.abs(m[:, None] - m[None, :]), axis=-1)  # [N, N, B]
        c = ops.exp(-l1)
        if not self.include_self:
            # Masking (rather than subtracting the exp(0) = 1 term) keeps small sums exact.
            c = c * (1.0 - ops.eye(ops.shape(c)[0], dtype="float32"))[..., None]
        closeness = ops.sum(c, axis=1)  # [N, B]
        return ops.concatenate([inputs, ops.cast(closeness, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] + self.num_kernels)

    def get_config(self):
        config = super().get_config()
        initializer = self.kernel_initializer
        if not isinstance(initializer, str):
            initializer = keras.initializers.serialize(keras.initializers.get(initializer))
        config.update({"num_kernels": self.num_kernels, "kernel_dim": self.kernel_dim,
                       "include_self": self.include_self, "kernel_initializer": initializer})
        return config
