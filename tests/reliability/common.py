"""Helpers of the reliability tests: running the training CLI and reading a workdir."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from tests import conftest
from tests.training import helpers
from tfbiggan.training import workdir as workdir_lib

CONFIG_FLAG = f"--config={helpers.DIGITS_CONFIG}"


# TensorFlow's PreemptionCheckpointHandler (multi-worker runs) asks the Google Cloud metadata
# server whether it runs there; pointing it at a closed loopback port answers "no" at once and
# keeps the tests off the network.
NO_METADATA_SERVER = "127.0.0.1:1"


def env(**extra):
    """The environment of a CLI subprocess: this checkout on the path, no GPU, no cluster."""
    result = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TPU_NAME")}
    result["PYTHONPATH"] = str(conftest.REPO_ROOT)
    result["CUDA_VISIBLE_DEVICES"] = ""
    result["TF_CPP_MIN_LOG_LEVEL"] = "1"
    result["GCE_METADATA_IP"] = NO_METADATA_SERVER
    result.update(extra)
    return result


def train_command(workdir, *flags):
    return [sys.executable, "-m", "tfbiggan.train", CONFIG_FLAG, f"--workdir={workdir}",
            *helpers.TINY_FLAGS, *flags]


# Runs the training CLI with the real data whose images turn to NaN from the iteration
# `sys.argv[1]` on (0-based: iteration i makes step i + 1, also when resuming, as the
# resume skips iterations after this).
_POISONED_CLI = """
import sys
import tensorflow as tf
import tfbiggan.data
from tfbiggan import train

first_bad = int(sys.argv.pop(1))
make_dataset = tfbiggan.data.make_dataset

def poisoned(*args, **kwargs):
    def poison(index, batch):
        images, labels = batch
        bad = tf.fill(tf.shape(images), float("nan"))
        return tf.where(index >= first_bad, bad, images), labels
    return make_dataset(*args, **kwargs).enumerate().map(poison)

tfbiggan.data.make_dataset = poisoned
train.run()
"""


# Runs the training CLI with slow checkpoint writes: in the middle of every write (the files
# are written, the state file is not final yet) it creates MARKERS/writing-ckpt-N, waits
# `sys.argv[2]` seconds, finishes the write and creates MARKERS/written-ckpt-N.
_SLOW_SAVE_CLI = """
import os
import sys
import time
from tfbiggan import train
from tfbiggan.training import trainer

markers, pause = sys.argv.pop(1), float(sys.argv.pop(1))
sweep = trainer.RecordFirstCheckpointManager._sweep

def slow_sweep(self):
    name = os.path.basename(self._latest_checkpoint)
    open(os.path.join(markers, "writing-" + name), "w").close()
    time.sleep(pause)
    sweep(self)
    open(os.path.join(markers, "written-" + name), "w").close()

trainer.RecordFirstCheckpointManager._sweep = slow_sweep
train.run()
"""


def start_train(workdir, log_path, *flags, slow_saves=None, **env_extra):
    """Starts the CLI with stdout and stderr to `log_path`; returns the Popen. With
    `slow_saves=(markers_dir, seconds)` each checkpoint write pauses half-way (see above)."""
    command = train_command(workdir, *flags)
    if slow_saves is not None:
        command = [sys.executable, "-c", _SLOW_SAVE_CLI, str(slow_saves[0]),
                   str(slow_saves[1]), *command[3:]]
    with open(log_path, "w", encoding="utf-8") as log:
        return subprocess.Popen(command, cwd=conftest.REPO_ROOT, env=env(**env_extra),
                                stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition, timeout, process=None, what="the condition"):
    """Polls `condition()` every 20 ms; fails after `timeout` s or when `process` ended."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (exit {process.returncode}) before "
                                 f"{what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def last_step(workdir):
    """The last step in metrics.jsonl (0 if none): the last completed iteration."""
    steps = [record["step"] for record in metrics(workdir)]
    return max(steps) if steps else 0


def run_train(workdir, *flags, timeout=180, prefix=(), nan_from=None):
    """Runs the CLI to completion; returns (exit code, stdout, stderr, seconds). With
    `nan_from`, the images of iterations `nan_from`, `nan_from` + 1, ... are all NaN."""
    start = time.monotonic()
    command = train_command(workdir, *flags)
    if nan_from is not None:
        command = [sys.executable, "-c", _POISONED_CLI, str(nan_from), *command[3:]]
    result = subprocess.run([*prefix, *command], cwd=conftest.REPO_ROOT,
                            env=env(), capture_output=True, text=True, timeout=timeout,
                            check=False)
    return result.returncode, result.stdout, result.stderr, time.monotonic() - start


def metrics(workdir):
    """The parsable records of metrics.jsonl (a line cut short by a kill is left out)."""
    records = []
    path = os.path.join(workdir, workdir_lib.METRICS_FILE)
    if not os.path.exists(path):
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def listed_checkpoints(workdir):
    """The checkpoint prefixes listed in the `checkpoint` state file (oldest first)."""
    state = tf.train.get_checkpoint_state(workdir_lib.checkpoint_dir(workdir))
    return list(state.all_model_checkpoint_paths) if state else []


def step_of(path):
    return int(path.rsplit("-", 1)[-1])


def checkpoint_tensors(path):
    """{name: value} of every tensor of a checkpoint (reads every byte of its data)."""
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def assert_same_tensors(actual, expected, atol=0.0):
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(actual[name], value, rtol=0, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(actual[name], value, err_msg=name)
