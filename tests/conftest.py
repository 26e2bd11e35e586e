"""Shared test set-up: two logical CPU devices and access to the reference fixtures."""

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


def fixture_path(*parts):
    """Path inside shared/fixtures; skips when absent, fails under CI=true."""
    root = shared_dir()
    if root is None:
        message = ("reference fixtures not found: put the `shared/` folder beside the checkout "
                   "or set TFBIGGAN_SHARED")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: fixture tests must run)")
        pytest.skip(message)
    return root.joinpath("fixtures", *parts)


def two_replica_strategy():
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.fail("two logical CPU devices are needed; conftest configures them")
    return tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
