"""Regularizers: BigGAN's orthogonal regularisation, R1 and historical averaging.

* `OrthogonalRegularizer` / `orthogonal_penalty`: BigGAN's modified orthogonal regularisation
  (Brock et al. 2019, arXiv 1809.11096, §3.1 eq. 3), R_β(W) = β‖WᵀW ⊙ (1 − I)‖²_F.
* `r1_penalty`: the R1 gradient penalty on D (Mescheder et al. 2018), defined in
  `tfbiggan.losses` and re-exported here.
* `HistoricalAveraging`: the penalty ‖θ − mean of past θ‖² of Salimans et al. 2016
  ("Improved Techniques for Training GANs", arXiv 1606.03498, §3.3).

Convention for the orthogonal penalty. tfbiggan's default is the paper's formula taken
literally as a loss: its autodiff gradient is 4β((VVᵀ) ⊙ (1 − I))V with V the kernel as
[out, rest]. BigGAN-PyTorch (`utils.ortho`) does not build a loss; it adds
2β((VVᵀ) ⊙ (1 − I))V to the gradient, half of the above. To reproduce BigGAN-PyTorch with its
strength β, use `beta=β / 2` here (e.g. 5e-5 for its nominal 1e-4).
"""

import math
import numbers

import keras
import tensorflow as tf

from tfbiggan.losses import r1_penalty

__all__ = ["OrthogonalRegularizer", "orthogonal_penalty", "r1_penalty", "HistoricalAveraging"]


def _check_nonnegative(value, name, hint):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"`{name}` must be a finite number >= 0 ({hint}); received {value!r}.")
    return float(value)


def _off_diagonal_gram_penalty(kernel):
    """‖WᵀW ⊙ (1 − I)‖²_F in float32 for a kernel viewed as W = [rest, out]."""
    w = keras.ops.cast(keras.ops.convert_to_tensor(kernel), "float32")
    shape = tuple(w.shape)
    if len(shape) < 2 or shape[-1] is None:
        raise ValueError(f"The orthogonal penalty needs a kernel of rank >= 2 with a known last "
                         f"dimension (conv [kh, kw, in, out] or dense [in, out]); received "
                         f"shape {shape}.")
    w = keras.ops.reshape(w, (-1, shape[-1]))
    rows, columns = w.shape
    if rows is not None and rows < columns:
        # A wide kernel (e.g. the generator's first linear, [20, 4·4·16ch]): the [out, out]
        # Gram would take gigabytes. ‖WᵀW‖²_F = ‖WWᵀ‖²_F, and the diagonal of WᵀW holds the
        # squared column norms, so the off-diagonal part needs only the small [rest, rest] Gram.
        small = keras.ops.matmul(w, keras.ops.transpose(w))
        column_norms = keras.ops.sum(keras.ops.square(w), axis=0)
        return keras.ops.sum(keras.ops.square(small)) - keras.ops.sum(
            keras.ops.square(column_norms))
    gram = keras.ops.matmul(keras.ops.transpose(w), w)
    off_diagonal = gram * (1.0 - keras.ops.eye(shape[-1], dtype="float32"))
    return keras.ops.sum(keras.ops.square(off_diagonal))


@keras.saving.register_keras_serializable(package="tfbiggan")
class OrthogonalRegularizer(keras.regularizers.Regularizer):
    """BigGAN's modified orthogonal regularisation, β‖WᵀW ⊙ (1 − I)‖²_F.

    W is the (pre-spectral-norm) kernel reshaped to [rest, out], so the Gram matrix WᵀW is over
    output filters: it penalises the pairwise cosine similarity of filters and leaves their
    norms free. The value is computed in float32 whatever the kernel dtype. This is the paper's
    formula as a loss (the default convention); BigGAN-PyTorch's update equals this penalty
    with `beta / 2` (see the module docstring). Unlike `keras.regularizers.OrthogonalRegularizer`
    it does not normalise the filters and uses the squared Frobenius norm.

    From Brock, Donahue & Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis" (arXiv 1809.11096), §3.1 eq. 3 and App. I (β = 1e-4, applied to G).

    Args:
      beta: penalty strength β, a finite number >= 0 (default 1e-4, the paper's value).

    Example:
      >>> conv = keras.layers.Conv2D(64, 3, kernel_regularizer=OrthogonalRegularizer(1e-4))
    """

    def __init__(self, beta=1e-4):
        self.beta = _check_nonnegative(beta, "beta", "the paper uses 1e-4")

    def __call__(self, x):
        return self.beta * _off_diagonal_gram_penalty(x)

    def get_config(self):
        return {"beta": self.beta}


def orthogonal_penalty(kernels, beta=1e-4):
    """Sum of β‖WᵀW ⊙ (1 − I)‖²_F over `kernels` (the paper's convention), a float32 scalar.

    BigGAN applies it to every kernel of rank >= 2 of G except the shared class embedding;
    selecting them is the caller's job (biases and gains must not be passed).

    Args:
      kernels: iterable of kernels (variables or tensors) of rank >= 2, [..., out].
      beta: penalty strength, finite >= 0 (1e-4 = paper; 5e-5 reproduces BigGAN-PyTorch's 1e-4).

    Example:
      >>> kernels = [v for v in generator.trainable_variables
      ...            if len(v.shape) >= 2 and "shared" not in v.path]
      >>> loss = g_loss + orthogonal_penalty(kernels, beta=1e-4)
    """
    beta = _check_nonnegative(beta, "beta", "the paper uses 1e-4")
    total = tf.constant(0.0, tf.float32)
    for kernel in kernels:
        total += _off_diagonal_gram_penalty(kernel)
    return beta * total


@keras.saving.register_keras_serializable(package="tfbiggan")
class HistoricalAveraging(tf.Module):
    """Historical averaging penalty weight·Σ‖θ − θ̄‖², θ̄ the mean of past parameter values.

    Holds one non-trainable float32 average per tracked variable. `build(variables)` records
    their current values as the first entry of the history; each `update(variables)` (call it
    after the optimizer step) adds the current values. With `decay=None` θ̄ is the cumulative
    mean (1/t)·Σ_{i=1..t} θ_i of the t recorded values; with a float `decay`, θ̄ is the
    exponential moving average θ̄ ← decay·θ̄ + (1 − decay)·θ. Calling the object returns the
    penalty for the current values (float32 scalar), differentiable in them. Create it (and call
    `build`) under the distribution strategy's scope; `update` may then run in replica context.

    From Salimans et al., "Improved Techniques for Training GANs" (arXiv 1606.03498), §3.3.

    Args:
      weight: penalty weight, a finite number >= 0 (default 1.0).
      decay: None for the cumulative mean (default), or an EMA decay in [0, 1).
      name: optional module name.

    Example:
      >>> history = HistoricalAveraging(weight=1e-3)
      >>> history.build(discriminator.trainable_variables)
      >>> with tf.GradientTape() as tape:
      ...     loss = d_loss + history(discriminator.trainable_variables)
      >>> ...  # apply the gradients, then
      >>> history.update(discriminator.trainable_variables)
    """

    def __init__(self, weight=1.0, decay=None, name=None):
        super().__init__(name=name)
        self.weight = _check_nonnegative(weight, "weight", "default 1.0")
        if decay is not None and (isinstance(decay, bool) or not isinstance(decay, numbers.Real)
                                  or not 0.0 <= decay < 1.0):
            raise ValueError(f"`decay` must be None (cumulative mean) or a number in [0, 1) "
                             f"(EMA decay); received {decay!r}.")
        self.decay = None if decay is None else float(decay)
        self._name_arg = name
        self.averages = None
        self.count = None

    @property
    def built(self):
        return self.averages is not None

    def build(self, variables):
        """Creates the averages, initialised to the current values of `variables`."""
        if self.built:
            raise ValueError("HistoricalAveraging is already built; create a new one to track "
                             "other variables.")
        variables = list(variables)
        with self.name_scope:
            self.averages = [
                tf.Variable(tf.cast(tf.convert_to_tensor(v), tf.float32), trainable=False,
                            name=f"average_{i}",
                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                for i, v in enumerate(variables)]
            self.count = tf.Variable(1, dtype=tf.int64, trainable=False, name="count",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def _check(self, variables):
        variables = list(variables)
        if not self.built:
            self.build(variables)
        if len(variables) != len(self.averages):
            raise ValueError(f"`variables` must be the {len(self.averages)} variables given to "
                             f"build(), in the same order; received {len(variables)}.")
        for i, (v, avg) in enumerate(zip(variables, self.averages)):
            if not avg.shape.is_compatible_with(v.shape):
                raise ValueError(f"`variables[{i}]` has shape {v.shape} but its average was "
                                 f"built with shape {avg.shape}.")
        return variables

    def update(self, variables):
        """Adds the current values of `variables` to the history."""
        variables = self._check(variables)
        count = tf.cast(self.count + 1, tf.float32)
        rate = (1.0 / count) if self.decay is None else (1.0 - self.decay)
        for v, avg in zip(variables, self.averages):
            value = tf.cast(tf.convert_to_tensor(v), tf.float32)
            avg.assign_add(rate * (value - avg))
        self.count.assign_add(1)

    def __call__(self, variables):
        """weight·Σ‖θ − θ̄‖² over `variables` (float32 scalar); the averages are constants."""
        variables = self._check(variables)
        total = tf.constant(0.0, tf.float32)
        for v, avg in zip(variables, self.averages):
            diff = tf.cast(tf.convert_to_tensor(v), tf.float32) - tf.stop_gradient(avg)
            total += tf.reduce_sum(tf.square(diff))
        return self.weight * total

    def get_config(self):
        return {"weight": self.weight, "decay": self.decay, "name": self._name_arg}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
