"""SAGAN self-attention block with spectrally normalised 1×1 convolutions."""

import keras
from keras import ops

from tfbiggan import validation
from tfbiggan.layers.spectral_norm import SpectralNormConv


@keras.saving.register_keras_serializable(package="tfbiggan")
class SelfAttention(keras.layers.Layer):
    """Self-attention (non-local) block: x + γ · o(softmax(θ(x) φ(x)ᵀ) g(x)).

    θ and φ map C → C/8 channels, g maps C → C/2 and o maps C/2 → C, all bias-free spectrally
    normalised 1×1 convolutions; φ and g are max-pooled 2×2 so each position attends over a
    quarter of the positions. γ is a learned scalar initialised to 0, so the block starts as
    the identity.

    Args:
      num_power_iterations, sn_epsilon: spectral-norm settings of the four convolutions.
      kernel_initializer: initializer of the convolutions.

    Example:
      >>> attention = SelfAttention()
      >>> h = attention(h, training=True)   # h: [B, H, W, C], C divisible by 8, H, W even

    Reference: Zhang et al. 2019, "Self-Attention GANs"; Brock et al. 2019.
    """

    def __init__(self, num_power_iterations=1, sn_epsilon=1e-4,
                 kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.sn_epsilon = validation.positive_float("sn_epsilon", sn_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        validation.check_rank("SelfAttention", "inputs", input_shape, 4)
        channels = input_shape[-1]
        if channels is None or channels % 8:
            raise ValueError(f"SelfAttention needs a channel count divisible by 8, "
                             f"got input shape {tuple(input_shape)}.")
        self.channels = channels

        def conv(filters, name):
            layer = SpectralNormConv(
                filters, 1, use_bias=False, num_power_iterations=self.num_power_iterations,
                epsilon=self.sn_epsilon, kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy, name=name)
            return layer

        self.theta = conv(channels // 8, "theta")
        self.phi = conv(channels // 8, "phi")
        self.g = conv(channels // 2, "g")
        self.o = conv(channels, "o")
        for layer in (self.theta, self.phi, self.g):
            layer.build(tuple(input_shape))
        self.o.build(tuple(input_shape[:-1]) + (channels // 2,))
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, inputs, training=False):
        validation.check_rank("SelfAttention", "inputs", inputs.shape, 4)
        validation.check_last_dim("SelfAttention", "inputs", inputs.shape, self.channels)
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None or height % 2 or width % 2:
            raise ValueError(f"SelfAttention needs a static, even height and width, got "
                             f"input shape {tuple(inputs.shape)}.")
        batch = ops.shape(inputs)[0]
        positions = height * width
        theta = ops.reshape(self.theta(inputs, training=training),
                            (batch, positions, self.channels // 8))
        phi = ops.max_pool(self.phi(inputs, training=training), 2, 2)
        phi = ops.reshape(phi, (batch, positions // 4, self.channels // 8))
        g = ops.max_pool(self.g(inputs, training=training), 2, 2)
        g = ops.reshape(g, (batch, positions // 4, self.channels // 2))
        logits = ops.matmul(theta, ops.transpose(phi, (0, 2, 1)))
        beta = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), inputs.dtype)
        attended = ops.reshape(ops.matmul(beta, g),
                               (batch, height, width, self.channels // 2))
        return inputs + ops.cast(self.gamma, inputs.dtype) * self.o(attended,
                                                                    training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_power_iterations": self.num_power_iterations, "sn_epsilon": self.sn_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
