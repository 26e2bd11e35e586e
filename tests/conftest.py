"""Shared test set-up: two logical CPU devices and access to the reference fixtures."""

import itertools
import os
import pathlib

import pytest
import tensorflow as tf

# Two logical CPU devices let MirroredStrategy run two replicas on one machine. This has to
# happen before TensorFlow initialises its devices, so it runs when pytest imports conftest.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # Devices were already initialised by an earlier import.
    pass

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_dir():
    """The `shared/` folder beside the checkout (or $TFBIGGAN_SHARED), or None."""
    candidates = [os.environ.get("TFBIGGAN_SHARED"), REPO_ROOT.parent / "shared"]
    for candidate in candidates:
        if candidate and pathlib.Path(candidate, "fixtures").is_dir():
            return pathlib.Path(candidate)
    return None


def shared_path(*parts):
    """Path inside the `shared/` folder (SPEC.md, reference/, fixtures/); skips when the
    folder is absent, fails under CI=true."""
    root = shared_dir()
    if root is None:
        message = ("reference fixtures not found: put the `shared/` folder beside the checkout "
                   "or set TFBIGGAN_SHARED")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: fixture tests must run)")
        pytest.skip(message)
    return root.joinpath(*parts)


def fixture_path(*parts):
    """Path inside shared/fixtures; skips when absent, fails under CI=true."""
    return shared_path("fixtures", *parts)


_KEY_BASES = itertools.count(1)


def two_replica_strategy():
    """A MirroredStrategy over the two logical CPUs, with collective keys of its own.

    Every MirroredStrategy starts its collective keys at the same numbers and the runtime
    remembers a collective instance by its keys, so a second strategy in the process whose
    collectives have other shapes would fail with "Shape mismatch in the collective instance".
    """
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.fail("two logical CPU devices are needed; conftest configures them")
    strategy_cls = tf.distribute.MirroredStrategy
    saved = strategy_cls._collective_key_base  # pylint: disable=protected-access
    strategy_cls._collective_key_base = 1_000_000 * next(_KEY_BASES)  # pylint: disable=protected-access
    try:
        return strategy_cls([d.name for d in devices[:2]])
    finally:
        strategy_cls._collective_key_base = saved  # pylint: disable=protected-access


def shared_cache_dir(resolutions=(32,)):
    """A cache directory shared by every test on this machine, holding the digits classifier
    at `resolutions` (trained once, under a file lock, by the first test that asks).

    The directory name carries a digest of the classifier code, so a change of the code starts
    a new cache; tests that check the cache itself use their own directories.
    """
    import fcntl  # pylint: disable=import-outside-toplevel
    import hashlib  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel
    digest = hashlib.sha1()
    for name in ("classifier.py", "digits.py"):
        digest.update((REPO_ROOT / "tfbiggan" / "metrics" / name).read_bytes())
    path = pathlib.Path(tempfile.gettempdir()) / f"tfbiggan-tests-{os.getuid()}-" \
        f"{digest.hexdigest()[:10]}"
    path.mkdir(exist_ok=True)
    with open(path / ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        from tfbiggan.metrics import digits  # pylint: disable=import-outside-toplevel
        for resolution in resolutions:
            digits.load_digits_classifier(resolution, cache_dir=str(path))
    return str(path)


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    """Modules with slow tests first, those with most of them first, each module's tests kept
    together and in order: with pytest-xdist's load scheduling the long runs (the restart
    tests, the conversions) start at once on every worker instead of keeping one worker busy
    after the others are done."""
    slow = {}
    for item in items:
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)
    first = {path: index for index, path in enumerate(slow)}  # Collection order.
    items.sort(key=lambda item: (-slow[item.path], first[item.path]))
