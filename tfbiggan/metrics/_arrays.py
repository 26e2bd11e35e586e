"""Input checks shared by the metrics: NumPy arrays or tensors in, float64 NumPy out."""

import numpy as np


def as_float64(value, name, ndim=None):
    """Converts `value` (array, list or eager tensor) to a float64 NumPy array.

    Args:
      value: the input.
      name: argument name used in error messages.
      ndim: required number of dimensions, or None for any.
    """
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value, dtype=np.float64)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"`{name}` must have {ndim} dimension(s), got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains non-finite values (NaN or inf).")
    return array


def check_positive_int(value, name, minimum=1):
    """Raises ValueError unless `value` is an int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)
