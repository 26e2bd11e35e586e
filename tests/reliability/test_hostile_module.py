"""Hostile inputs to an exported module: 1000+ cases generated from a seeded RNG (wrong ranks,
widths and dtypes, NaN/Inf, truncation outside (0, 1], empty and large batches, class vectors
with any sum, huge values) through `module(...)` and `module.signatures["default"]`. Each is
rejected with a clear message or handled (finite images of the right shape), and the module
keeps working afterwards."""

import collections
import dataclasses
import re
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbiggan.export import export_hub
from tests.reliability import recorder
from tfbiggan.models.biggan import BigGANGenerator

DIM_Z, NUM_CLASSES, RESOLUTION = 128, 10, 32
NUM_CASES = 1000
HANDLED = "handled"


def _shape_message(name, width):
    return (rf"\(None, {width}\)|Shape of tensor {name} \[.*\] is not compatible with "
            rf"expected shape \[\?,{width}\]")


# category: (description, outcome of module(...), outcome of the signature, table outcome).
# An outcome is HANDLED (finite images [B, R, R, 3] in [-1, 1]) or a regex the error matches.
_TRUNCATION = r"truncation must be in \(0, 1\]"
_TOO_LARGE = r"the generated images are not finite: z or y is too large in magnitude"
_SIG_DTYPE = r"was expected to be a float tensor but is a \w+ tensor"
CATEGORIES = {
    "valid": ("valid z, one-hot or mixed y, truncation in (0, 1], batch 1-8", HANDLED, HANDLED),
    "empty_batch": ("batch size 0", HANDLED, HANDLED),
    "large_batch": ("batch size 256-1024", HANDLED, HANDLED),
    "y_sums": ("y rows summing to 0, negative or > 1 (any weights of the class embeddings)",
               HANDLED, HANDLED),
    "z_width": ("z of width != dim_z", _shape_message("z", DIM_Z), _shape_message("z", DIM_Z)),
    "z_rank": ("z of rank 0, 1, 3", _shape_message("z", DIM_Z), _shape_message("z", DIM_Z)),
    "y_width": ("y of width != num_classes", _shape_message("y", NUM_CLASSES),
                _shape_message("y", NUM_CLASSES)),
    "y_rank": ("y of rank 0, 1, 3", _shape_message("y", NUM_CLASSES),
               _shape_message("y", NUM_CLASSES)),
    "batch_mismatch": ("z and y of different batch sizes", "same batch size",
                       "same batch size"),
    "t_rank": ("truncation not a scalar", r"\(\)|expected shape \[\]",
               r"\(\)|expected shape \[\]"),
    "t_range": ("truncation <= 0, > 1, NaN or ±Inf", _TRUNCATION, _TRUNCATION),
    "z_nonfinite": ("NaN or ±Inf in z", "z must be finite", "z must be finite"),
    "y_nonfinite": ("NaN or ±Inf in y", "y must be finite", "y must be finite"),
    "huge": ("finite z or y of magnitude 1e30-1e38", _TOO_LARGE, _TOO_LARGE),
    "numeric_dtype": ("z, y or truncation as float64 / float16 / int32 / bool arrays",
                      HANDLED, _SIG_DTYPE),
    "tensor_dtype": ("z or y as tf.Tensor of another dtype", r"Can not cast TensorSpec",
                     _SIG_DTYPE),
    "strings": ("z or y holding strings", r"could not convert string to float", _SIG_DTYPE),
    "none": ("None for z, y or truncation", r"Attempt to convert a value \(None\)",
             r"Attempt to convert a value \(None\)"),
}


@dataclasses.dataclass
class Case:
    category: str
    z: object
    y: object
    truncation: object


def _y(rng, batch):
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, batch)]
    mixed = rng.random(batch) < 0.3
    y[mixed] = rng.dirichlet(np.ones(NUM_CLASSES), mixed.sum()).astype(np.float32)
    return y


def _valid(rng, batch=None):
    batch = int(rng.integers(1, 9)) if batch is None else batch
    z = (rng.standard_normal((batch, DIM_Z)) * rng.choice([0.1, 1.0, 5.0])).astype(np.float32)
    t = np.float32(rng.choice([1.0, rng.uniform(1e-6, 1.0), 1e-30]))
    return z, _y(rng, batch), t


def _shape(rng, rank, right_width, name_width):
    """A random shape of `rank` whose last dimension (if any) is not `right_width` when the
    rank is 2."""
    if rank == 2:
        width = int(rng.integers(0, 300))
        while width == right_width:
            width = int(rng.integers(0, 300))
        return (int(rng.integers(1, 5)), width)
    del name_width
    return tuple(int(rng.integers(1, 4)) for _ in range(rank - 1)) + (right_width,) \
        if rank else ()


def _make(category, rng):  # pylint: disable=too-many-return-statements,too-many-branches
    z, y, t = _valid(rng)
    batch = z.shape[0]
    if category == "valid":
        return Case(category, z, y, t)
    if category == "empty_batch":
        z, y, t = _valid(rng, 0)
        return Case(category, z, y, t)
    if category == "large_batch":
        z, y, t = _valid(rng, int(rng.choice([256, 512, 1024])))
        return Case(category, z, y, t)
    if category == "y_sums":
        scale = rng.choice([0.0, -1.0, 2.0, 3.0, rng.uniform(-3, 3)])
        return Case(category, z, (y * scale).astype(np.float32), t)
    if category == "z_width":
        return Case(category, rng.standard_normal(_shape(rng, 2, DIM_Z, 0)).astype(
            np.float32), y, t)
    if category == "z_rank":
        rank = int(rng.choice([0, 1, 3]))
        return Case(category, rng.standard_normal(_shape(rng, rank, DIM_Z, 0)).astype(
            np.float32), y, t)
    if category == "y_width":
        shape = _shape(rng, 2, NUM_CLASSES, 0)
        return Case(category, z[:shape[0]] if shape[0] <= batch else z,
                    rng.random(shape).astype(np.float32), t)
    if category == "y_rank":
        rank = int(rng.choice([0, 1, 3]))
        return Case(category, z, rng.random(_shape(rng, rank, NUM_CLASSES, 0)).astype(
            np.float32), t)
    if category == "batch_mismatch":
        other = int(rng.integers(0, 9))
        while other == batch:
            other = int(rng.integers(0, 9))
        return Case(category, z, _y(rng, other), t)
    if category == "t_rank":
        shape = tuple(int(rng.integers(0, 3)) for _ in range(int(rng.integers(1, 3))))
        return Case(category, z, y, np.full(shape, 0.5, np.float32))
    if category == "t_range":
        value = rng.choice([0.0, -0.0, -rng.uniform(0, 10), 1.0 + rng.uniform(1e-6, 10),
                            np.nan, np.inf, -np.inf, -1e-30])
        return Case(category, z, y, np.float32(value))
    if category in ("z_nonfinite", "y_nonfinite"):
        target = (z if category == "z_nonfinite" else y).copy()
        mask = rng.random(target.shape) < rng.choice([0.01, 0.5, 1.0])
        mask.flat[int(rng.integers(0, mask.size))] = True
        target[mask] = rng.choice([np.nan, np.inf, -np.inf])
        return Case(category, target, y, t) if category == "z_nonfinite" else Case(
            category, z, target, t)
    if category == "huge":
        magnitude = np.float32(10.0 ** rng.uniform(30, 38))
        if rng.random() < 0.5:
            return Case(category, (np.sign(z) * magnitude).astype(np.float32), y, t)
        return Case(category, z, (y * magnitude).astype(np.float32), t)
    if category == "numeric_dtype":
        dtype = rng.choice([np.float64, np.float16, np.int32, np.bool_])
        which = int(rng.integers(0, 3))
        if which == 0:
            return Case(category, np.clip(z, -3, 3).astype(dtype), y, t)
        if which == 1:
            return Case(category, z, (y > 0.5).astype(dtype), t)
        return Case(category, z, y, np.array(0.5 if dtype != np.int32 else 1).astype(dtype))
    if category == "tensor_dtype":
        dtype = rng.choice([tf.float64, tf.int32, tf.float16])
        if rng.random() < 0.5:
            return Case(category, tf.cast(z, dtype), y, t)
        return Case(category, z, tf.cast(y, dtype), t)
    if category == "strings":
        if rng.random() < 0.5:
            return Case(category, np.full(z.shape, "x"), y, t)
        return Case(category, z, np.full(y.shape, "one"), t)
    if category == "none":
        which = int(rng.integers(0, 3))
        return Case(category, *[None if i == which else v for i, v in enumerate((z, y, t))])
    raise ValueError(f"unknown category {category!r}")


def generate_cases(count=NUM_CASES, seed=1234):
    """`count` cases; every category at least 10 times, the rest drawn at random (large
    batches at most 6 times, to bound the run time)."""
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES)
    order = [name for name in names for _ in range(10)]
    others = [name for name in names if name != "large_batch"]
    order += list(rng.choice(others, count - len(order) - 6)) + ["large_batch"] * 6
    return [_make(str(name), rng) for name in order]


CASES = generate_cases()
_COUNTS = collections.Counter(case.category for case in CASES)


def _outcome_text(outcome):
    if outcome == HANDLED:
        return "handled: finite images [B, 32, 32, 3] in [-1, 1]"
    return f"rejected, the error matching `{outcome}`"


ROWS = {}
for _name, (_description, _call_outcome, _signature_outcome) in CATEGORIES.items():
    if _call_outcome == _signature_outcome:
        _text = _outcome_text(_call_outcome)
    else:
        _text = (f"module(...): {_outcome_text(_call_outcome)}; signature: "
                 f"{_outcome_text(_signature_outcome)}")
    ROWS[_name] = recorder.case(
        "Exported module", f"{_description} ({_COUNTS[_name]} generated cases, both entry "
        "points)", _text + "; the process and the module keep working")


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    keras.utils.set_random_seed(3)
    generator = BigGANGenerator(RESOLUTION, ch=4, num_classes=NUM_CLASSES,
                                num_truncation_stats=3)
    generator(np.zeros((1, DIM_Z), np.float32), np.array([0]))
    path = str(tmp_path_factory.mktemp("hostile") / "module")
    export_hub.export_generator(generator, path, {"step": 1}, bank_batches=1,
                                bank_batch_size=4)
    return tf.saved_model.load(path)


def _as_signature_input(value):
    if value is None or isinstance(value, tf.Tensor):
        return value
    if isinstance(value, float):
        return tf.constant(value, tf.float32)
    return tf.constant(value)


def _run(function, case):
    """(None, images) or (error text, None)."""
    try:
        return None, function(case).numpy()
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
        return f"{type(error).__name__}: {error}", None


def _check(case, outcome, error, images, where):
    label = f"{where} {case.category}"
    if outcome == HANDLED:
        assert error is None, f"{label}: {error}"
        batch = np.shape(case.z)[0]
        assert images.shape == (batch, RESOLUTION, RESOLUTION, 3), label
        assert images.dtype == np.float32 and np.isfinite(images).all(), label
        assert images.size == 0 or np.abs(images).max() <= 1.0, label
    else:
        assert images is None, f"{label}: accepted, expected an error matching {outcome!r}"
        assert re.search(outcome, error), f"{label}: {error[:500]!r} !~ {outcome!r}"


@pytest.mark.slow
def test_generated_hostile_inputs(module):
    assert len(CASES) >= NUM_CASES and set(_COUNTS) == set(CATEGORIES)
    signature = module.signatures["default"]
    probe = _valid(np.random.default_rng(0), 3)
    before = module(*probe).numpy()
    seen = collections.Counter()
    for case in CASES:
        _, call_outcome, signature_outcome = CATEGORIES[case.category]
        error, images = _run(lambda c: module(c.z, c.y, c.truncation), case)
        _check(case, call_outcome, error, images, "module(...)")
        error, images = _run(lambda c: signature(
            z=_as_signature_input(c.z), y=_as_signature_input(c.y),
            truncation=_as_signature_input(c.truncation))["default"], case)
        _check(case, signature_outcome, error, images, "signature")
        seen[case.category] += 2
    assert sum(seen.values()) == 2 * len(CASES)
    # The module still answers, with the same images as before.
    np.testing.assert_array_equal(module(*probe).numpy(), before)


for _row in ROWS.values():
    _row(test_generated_hostile_inputs)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
