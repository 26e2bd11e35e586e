"""Argument checks shared by layers, models and tools.

Each check raises a ValueError that names the argument, the value received and what is accepted.
"""

import numbers


def positive_int(name, value, allow_zero=False):
    lowest = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        accepted = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"`{name}` must be {accepted}, got {value!r}.")
    return int(value)


def positive_float(name, value, allow_zero=False):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or value < 0 or (value == 0 and not allow_zero)):
        accepted = "a non-negative number" if allow_zero else "a positive number"
        raise ValueError(f"`{name}` must be {accepted}, got {value!r}.")
    return float(value)


def in_range(name, value, low, high, low_inclusive=True, high_inclusive=True):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and (
            value <= high if high_inclusive else value < high)
    if not ok:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ValueError(
            f"`{name}` must be a number in {left}{low}, {high}{right}, got {value!r}.")
    return float(value)


def one_of(name, value, accepted):
    if value not in accepted:
        raise ValueError(f"`{name}` must be one of {sorted(accepted)!r}, got {value!r}.")
    return value


def boolean(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")
    return value


def check_rank(layer_name, input_name, shape, rank):
    if len(shape) != rank:
        raise ValueError(
            f"{layer_name} expects `{input_name}` of rank {rank}, got shape {tuple(shape)}.")


def check_last_dim(layer_name, input_name, shape, expected):
    if shape[-1] is not None and expected is not None and shape[-1] != expected:
        raise ValueError(
            f"{layer_name} expects `{input_name}` with last dimension {expected}, "
            f"got shape {tuple(shape)}.")


def truncation_rows(name, value):
    """Rows of a truncation-indexed statistics bank: 0 (no bank) or at least 2."""
    value = positive_int(name, value, allow_zero=True)
    if value == 1:
        raise ValueError(f"`{name}` must be 0 (no bank) or at least 2 (rows for t = 0 and "
                         f"t = 1), got 1.")
    return value
