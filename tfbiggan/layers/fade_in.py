"""Linear fade-in of a newly added resolution stage (Progressive GAN)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbiggan")
class FadeIn(keras.layers.Layer):
    """Blends two tensors of equal shape: (1 − α)·a + α·b.

    `a` is the resampled output of the previous stage, `b` the new stage's output; α rises
    linearly from 0 (previous stage only) to 1 (new stage only) while a stage fades in. α is a
    call argument: a Python number in [0, 1] or a scalar tensor / variable (tensors are used as
    given; keep them in [0, 1]).

    Args:
      (none besides the standard layer keyword arguments.)

    Example:
      >>> fade = FadeIn()
      >>> out = fade(keras.ops.zeros((2, 8, 8, 3)), keras.ops.ones((2, 8, 8, 3)), alpha=0.25)
      >>> float(out[0, 0, 0, 0])
      0.25

    Paper: Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196), §3 and Fig. 2.
    """

    def call(self, a, b, alpha):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(
                f"{self.name}: both inputs must have the same shape, got {tuple(a.shape)} "
                f"and {tuple(b.shape)}.")
        if isinstance(alpha, (int, float)) and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must lie in [0, 1], got {alpha!r}.")
        alpha = ops.cast(alpha, self.compute_dtype)
        if len(alpha.shape) != 0:
            raise ValueError(f"`alpha` must be a scalar, got shape {tuple(alpha.shape)}.")
        a = ops.cast(a, self.compute_dtype)
        b = ops.cast(b, self.compute_dtype)
        # Written as (1 − α)·a + α·b so that α = 0 and α = 1 return a and b exactly.
        return (1.0 - alpha) * a + alpha * b
