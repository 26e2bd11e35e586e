"""Spectrally normalised convolution, dense and embedding layers (BigGAN's reparameterisation).

The raw kernel W is the trainable weight and the layer computes with W / σ(W), where σ is the
largest singular value estimated by power iteration from a stored vector u (Miyato et al. 2018,
as used by Brock et al. 2019). With the kernel viewed as a matrix K = W.reshape(-1, C_out)
([rest, out], the transpose of the [out, rest] view of BigGAN-PyTorch):

    v  = normalize(K · u)        u' = normalize(vᵀ · K)        σ = vᵀ · K · u'

normalize(a) = a / max(‖a‖, eps). u and v are constants for the gradient; σ is differentiable
in K. A training call stores u' (and σ, for monitoring); an inference call runs the same
iteration from the stored u and stores nothing.

σ = 0 (an all-zero kernel, or u orthogonal to every row of K) would give 0/0: the kernel is
then divided by 1 instead, so the layer outputs its bias (zero kernel) with finite gradients,
and u is kept rather than replaced by the zero vector, from which the power iteration could
never recover once the kernel becomes non-zero again.
"""

import keras
from keras import ops

from tfbiggan import validation


def _normalize(vector, epsilon):
    return vector / ops.maximum(ops.sqrt(ops.sum(ops.square(vector))), epsilon)


def power_iteration(matrix, u, num_iterations=1, epsilon=1e-4):
    """Estimates the largest singular value of `matrix` ([rest, out]) from `u` ([out]).

    Returns (sigma, new_u); sigma is differentiable in `matrix`, the vectors are not.
    """
    frozen = ops.stop_gradient(matrix)
    for _ in range(num_iterations):
        v = _normalize(ops.matmul(frozen, u), epsilon)
        u = _normalize(ops.matmul(v, frozen), epsilon)
    v = ops.stop_gradient(v)
    u = ops.stop_gradient(u)
    sigma = ops.sum(ops.matmul(v, matrix) * u)
    return sigma, u


class _SpectralNormLayer(keras.layers.Layer):
    """Holds the kernel, the power-iteration vector u and σ; subclasses apply the kernel."""

    def __init__(self, num_power_iterations=1, epsilon=1e-4, kernel_initializer="orthogonal",
                 kernel_regularizer=None, kernel_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.num_power_iterations = validation.positive_int(
            "num_power_iterations", num_power_iterations)
        self.epsilon = validation.positive_float("epsilon", epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def _build_spectral_norm(self, kernel_shape, out_dim):
        # The float32 kernel is read without autocasting so that σ is always computed in
        # float32; the normalised kernel is cast to the compute dtype afterwards.
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
            autocast=False)
        self.u = self.add_weight(
            name="u", shape=(out_dim,), initializer=keras.initializers.RandomNormal(),
            trainable=False, autocast=False, aggregation="mean")
        self.sigma = self.add_weight(
            name="sigma", shape=(), initializer="ones", trainable=False, autocast=False,
            aggregation="mean")

    def _kernel_matrix(self, kernel):
        return ops.reshape(kernel, (-1, ops.shape(kernel)[-1]))

    def normalized_kernel(self, training=False):
        """The kernel divided by its estimated largest singular value (float32)."""
        kernel = ops.convert_to_tensor(self.kernel)
        u = ops.convert_to_tensor(self.u)
        sigma, new_u = power_iteration(
            self._kernel_matrix(kernel), u, self.num_power_iterations, self.epsilon)
        positive = sigma > 0
        if training:
            self.u.assign(ops.where(ops.any(ops.not_equal(new_u, 0)), new_u, u))
            self.sigma.assign(sigma)
        return kernel / ops.where(positive, sigma, ops.ones_like(sigma))

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_power_iterations": self.num_power_iterations,
            "epsilon": self.epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
        })
        return config


class _BiasAndActivation:
    """The bias and activation arguments Keras's Conv2D and Dense share."""

    def _init_bias_and_activation(self, use_bias, bias_initializer, bias_regularizer,
                                  bias_constraint, activation):
        self.use_bias = validation.boolean("use_bias", use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.activation = keras.activations.get(activation)

    def _build_bias(self, size):
        self.bias = (self.add_weight(name="bias", shape=(size,),
                                     initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint)
                     if self.use_bias else None)

    def _finish(self, outputs):
        if self.use_bias:
            # A broadcast add, not BiasAdd: both fuse into the forward convolution, but BiasAdd
            # also fuses its gradient into the filter gradient (oneDNN's backward-weights with
            # bias), which made a BigGAN 32×32 training iteration 5% slower on a CPU.
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def _bias_and_activation_config(self):
        return {"use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="tfbiggan")
class SpectralNormConv(_BiasAndActivation, _SpectralNormLayer):
    """2-D convolution (NHWC) with a spectrally normalised kernel [kh, kw, in / groups, out].

    It takes the arguments of `keras.layers.Conv2D` (with "same" padding by default, BigGAN's
    choice) and computes what Conv2D computes with the kernel W / σ(W). σ is taken over the
    kernel as one [kh·kw·in/groups, out] matrix, also for grouped convolutions.

    Args:
      filters: number of output channels.
      kernel_size: int or (kh, kw).
      strides: int or (sh, sw); strides > 1 cannot be combined with dilation_rate > 1.
      padding: "same" (default) or "valid".
      data_format: "channels_last" (or None); tfbiggan images are NHWC.
      dilation_rate: int or (dh, dw).
      groups: number of channel groups; input channels and `filters` must be divisible by it.
      activation: applied to the output (name, callable or None), as in Keras.
      use_bias: add a bias.
      kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint, activity_regularizer: as in Keras (kernel:
        orthogonal by default; the kernel regulariser and constraint act on the raw kernel).
      num_power_iterations: power iterations per call (1 in BigGAN).
      epsilon: floor of the norm in the power iteration (paper 1e-4, BigGAN-PyTorch 1e-6).

    Example:
      >>> conv = SpectralNormConv(64, 3, activation="relu")
      >>> y = conv(images, training=True)   # updates u; conv.sigma holds σ(W)

    Reference: Miyato et al. 2018, "Spectral Normalization for GANs"; Brock et al. 2019.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="same", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, num_power_iterations=1, epsilon=1e-4, **kwargs):
        super().__init__(num_power_iterations, epsilon, kernel_initializer, kernel_regularizer,
                         kernel_constraint, **kwargs)
        self.filters = validation.positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = validation.one_of("padding", str(padding).lower(), {"same", "valid"})
        self.data_format = validation.one_of("data_format", data_format or "channels_last",
                                             {"channels_last"})
        self.dilation_rate = _pair("dilation_rate", dilation_rate)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"`strides` > 1 cannot be combined with `dilation_rate` > 1, got "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}.")
        self.groups = validation.positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"`filters` must be divisible by `groups`, got filters="
                             f"{self.filters} and groups={self.groups}.")
        self._init_bias_and_activation(use_bias, bias_initializer, bias_regularizer,
                                       bias_constraint, activation)

    def build(self, input_shape):
        validation.check_rank(type(self).__name__, "inputs", input_shape, 4)
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} needs a known channel count, "
                             f"got input shape {tuple(input_shape)}.")
        if input_shape[-1] % self.groups:
            raise ValueError(f"{type(self).__name__}: the input channels ({input_shape[-1]}) "
                             f"must be divisible by `groups` ({self.groups}).")
        self._in_channels = input_shape[-1]
        self._build_spectral_norm(
            self.kernel_size + (input_shape[-1] // self.groups, self.filters), self.filters)
        self._build_bias(self.filters)

    def call(self, inputs, training=False):
        validation.check_rank(type(self).__name__, "inputs", inputs.shape, 4)
        validation.check_last_dim(type(self).__name__, "inputs", inputs.shape,
                                  self._in_channels)
        kernel = ops.cast(self.normalized_kernel(training), self.compute_dtype)
        outputs = ops.conv(inputs, kernel, strides=self.strides, padding=self.padding,
                           dilation_rate=self.dilation_rate)
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        sizes = []
        for size, kernel, stride, dilation in zip(input_shape[1:3], self.kernel_size,
                                                  self.strides, self.dilation_rate):
            if size is not None:
                if self.padding == "valid":
                    size -= (kernel - 1) * dilation
                size = -(-size // stride)
            sizes.append(size)
        return (input_shape[0], *sizes, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size,
                       "strides": self.strides, "padding": self.padding,
                       "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                       "groups": self.groups, **self._bias_and_activation_config()})
        return config


@keras.saving.register_keras_serializable(package="tfbiggan")
class SpectralNormDense(_BiasAndActivation, _SpectralNormLayer):
    """Dense layer with a spectrally normalised kernel [in, out].

    It takes the arguments of `keras.layers.Dense` and computes what Dense computes with the
    kernel W / σ(W): inputs of rank ≥ 2, the kernel applied to the last axis.

    Args:
      units: output width.
      activation: applied to the output (name, callable or None), as in Keras.
      use_bias: add a bias.
      kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint, activity_regularizer: as in Keras (kernel:
        orthogonal by default).
      num_power_iterations, epsilon: as for `SpectralNormConv`.

    Example:
      >>> dense = SpectralNormDense(1)
      >>> logits = dense(features)

    Reference: Miyato et al. 2018; Brock et al. 2019.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, num_power_iterations=1,
                 epsilon=1e-4, **kwargs):
        super().__init__(num_power_iterations, epsilon, kernel_initializer, kernel_regularizer,
                         kernel_constraint, **kwargs)
        self.units = validation.positive_int("units", units)
        self._init_bias_and_activation(use_bias, bias_initializer, bias_regularizer,
                                       bias_constraint, activation)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} expects inputs of rank >= 2 with a known "
                             f"last dimension, got shape {tuple(input_shape)}.")
        self._in_features = input_shape[-1]
        self._build_spectral_norm((input_shape[-1], self.units), self.units)
        self._build_bias(self.units)

    def call(self, inputs, training=False):
        if len(inputs.shape) < 2:
            raise ValueError(f"{type(self).__name__} expects inputs of rank >= 2, got shape "
                             f"{tuple(inputs.shape)}.")
        validation.check_last_dim(type(self).__name__, "inputs", inputs.shape,
                                  self._in_features)
        kernel = ops.cast(self.normalized_kernel(training), self.compute_dtype)
        return self._finish(ops.matmul(inputs, kernel))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, **self._bias_and_activation_config()})
        return config


@keras.saving.register_keras_serializable(package="tfbiggan")
class SpectralNormEmbedding(_SpectralNormLayer):
    """Class embedding table [num_classes, dim], spectrally normalised as a whole.

    As in BigGAN-PyTorch the table is treated as a [num_classes, dim] matrix whose "output"
    side is the class axis, so u has length `num_classes`. Inputs are integer class ids [B] or
    float class vectors [B, num_classes] (one-hot or mixtures; the embedding is then the
    linear map y · table, so mixtures interpolate embeddings).

    Args:
      num_classes: number of classes.
      output_dim: embedding width.
      num_power_iterations, epsilon, kernel_initializer, kernel_regularizer,
        kernel_constraint: as for `SpectralNormConv`.

    Example:
      >>> embed = SpectralNormEmbedding(1000, 1536)
      >>> projection = ops.sum(embed(labels) * features, axis=-1)

    Reference: Miyato & Koyama 2018 (projection discriminator); Brock et al. 2019.
    """

    def __init__(self, num_classes, output_dim, num_power_iterations=1, epsilon=1e-4,
                 kernel_initializer="orthogonal", kernel_regularizer=None,
                 kernel_constraint=None, **kwargs):
        super().__init__(num_power_iterations, epsilon, kernel_initializer, kernel_regularizer,
                         kernel_constraint, **kwargs)
        self.num_classes = validation.positive_int("num_classes", num_classes)
        self.output_dim = validation.positive_int("output_dim", output_dim)

    def build(self, input_shape):
        self._build_spectral_norm((self.num_classes, self.output_dim), self.num_classes)

    def _kernel_matrix(self, kernel):
        return ops.transpose(kernel)  # [dim, num_classes]: u lives on the class axis.

    def call(self, inputs, training=False):
        table = ops.cast(self.normalized_kernel(training), self.compute_dtype)
        return embed_classes(type(self).__name__, inputs, table, self.num_classes)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "output_dim": self.output_dim})
        return config


def embed_classes(layer_name, labels, table, num_classes):
    """Looks up int labels [B] or maps float class vectors [B, num_classes] through `table`."""
    if "int" in str(labels.dtype):
        validation.check_rank(layer_name, "labels", labels.shape, 1)
        return ops.take(table, labels, axis=0)
    validation.check_rank(layer_name, "class vectors", labels.shape, 2)
    validation.check_last_dim(layer_name, "class vectors", labels.shape, num_classes)
    return ops.matmul(ops.cast(labels, table.dtype), table)


def _pair(name, value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or any(not isinstance(v, int) or v < 1 for v in value):
        raise ValueError(f"`{name}` must be a positive integer or a pair of them, "
                         f"got {value!r}.")
    return value
