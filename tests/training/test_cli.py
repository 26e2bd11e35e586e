"""The command line (`python -m tfbiggan.train`): outputs, resuming, flag and config errors,
TPU selection without a TPU, and a two-process MultiWorkerMirroredStrategy run on loopback."""

import json
import math
import os
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests import conftest
from tests.training import helpers
from tfbiggan.training import workdir as workdir_lib

_CONFIG_FLAG = f"--config={helpers.DIGITS_CONFIG}"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TPU_NAME")}
    env["PYTHONPATH"] = str(conftest.REPO_ROOT)
    env["CUDA_VISIBLE_DEVICES"] = ""
    # Multi-worker runs ask the Google Cloud metadata server whether they run there
    # (PreemptionCheckpointHandler); a closed loopback port answers "no" without the network.
    env["GCE_METADATA_IP"] = "127.0.0.1:1"
    env.update(extra)
    return env


def _train(*args, timeout=300, env=None):
    """Runs the CLI to completion; returns (exit code, stdout + stderr, seconds)."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tfbiggan.train", *args], cwd=conftest.REPO_ROOT,
        env=env or _env(), capture_output=True, text=True, timeout=timeout, check=False)
    return result.returncode, result.stdout + result.stderr, time.monotonic() - start


def _metrics(workdir):
    with open(os.path.join(workdir, workdir_lib.METRICS_FILE), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _checkpoint_step(workdir):
    path = tf.train.latest_checkpoint(workdir_lib.checkpoint_dir(workdir))
    assert path is not None, f"no checkpoint in {workdir}"
    return int(tf.train.load_checkpoint(path).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.slow
def test_cli_trains_writes_its_outputs_and_resumes(tmp_path):
    workdir = str(tmp_path / "run")
    code, output, _ = _train(_CONFIG_FLAG, f"--workdir={workdir}",
                             "--config.training.steps=2", *helpers.TINY_FLAGS)
    assert code == 0, output
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        payload = json.load(f)
    assert payload["config"]["training"]["steps"] == 2
    assert payload["config"]["model"]["overrides"]["ch"] == 4
    assert payload["config"]["data"]["pipeline"]["source"] == "digits"
    assert {"generator", "discriminator"} <= set(payload)
    records = _metrics(workdir)
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        for key in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            assert isinstance(record[key], float) and math.isfinite(record[key]), record
    assert _checkpoint_step(workdir) == 2
    assert os.listdir(os.path.join(workdir, "summaries"))

    code, output, _ = _train(_CONFIG_FLAG, f"--workdir={workdir}",
                             "--config.training.steps=4", *helpers.TINY_FLAGS)
    assert code == 0, output
    assert "Resumed from" in output and "step 2" in output
    assert [r["step"] for r in _metrics(workdir)] == [1, 2, 3, 4]
    assert _checkpoint_step(workdir) == 4
    state = tf.train.get_checkpoint_state(workdir_lib.checkpoint_dir(workdir))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
        "ckpt-2", "ckpt-4"]

    # Asking for no more steps than done leaves the workdir as it is.
    code, output, _ = _train(_CONFIG_FLAG, f"--workdir={workdir}", "--steps=3",
                             *helpers.TINY_FLAGS)
    assert code == 0, output
    assert _checkpoint_step(workdir) == 4 and len(_metrics(workdir)) == 4


@pytest.mark.slow
@pytest.mark.parametrize("flag, expected", [
    ("--config.training.nonexistent=1", "nonexistent"),
    ("--config.training.batch_size=many", "batch_size"),
    ("--strategy=gpu_cluster", "gpu_cluster"),
])
def test_cli_rejects_unknown_keys_and_bad_values(tmp_path, flag, expected):
    workdir = tmp_path / "run"
    code, output, _ = _train(_CONFIG_FLAG, f"--workdir={workdir}", flag, timeout=120)
    assert code != 0
    assert expected in output, output
    assert not workdir.exists()


@pytest.mark.slow
def test_cli_reports_a_bad_config_value_without_a_traceback(tmp_path):
    code, output, _ = _train(_CONFIG_FLAG, f"--workdir={tmp_path / 'run'}",
                             "--config.training.num_d_steps=0", timeout=120)
    assert code == 1
    assert "config field `training.num_d_steps` must be a positive integer, got 0" in output
    assert "Traceback" not in output


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("tpu_flags, expected", [
    ((), "--strategy=tpu needs a TPU"),
    (("--tpu=local",), "no TPU devices"),
    (("--tpu=grpc://127.0.0.1:{port}",), "Cannot reach the TPU"),
], ids=["no_name", "local", "loopback_grpc"])
def test_tpu_strategy_without_a_tpu_fails_fast(tmp_path, tpu_flags, expected):
    if os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio"):
        pytest.skip("this machine has TPU devices")
    flags = [f.format(port=_free_port()) for f in tpu_flags]
    code, output, seconds = _train(_CONFIG_FLAG, f"--workdir={tmp_path / 'run'}",
                                   "--strategy=tpu", *flags, *helpers.TINY_FLAGS, timeout=120)
    assert code != 0
    assert expected in output, output
    assert seconds < 90  # Import time included; no waiting for a TPU that is not there.
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_multi_worker_run_on_loopback_writes_one_checkpoint(tmp_path):
    ports = [_free_port(), _free_port()]
    assert ports[0] != ports[1]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workdirs = [str(tmp_path / f"worker{index}") for index in range(2)]
    processes, logs = [], []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                 "index": index}})
            log = open(tmp_path / f"worker{index}.log", "w+", encoding="utf-8")
            logs.append(log)
            processes.append(subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "tfbiggan.train", _CONFIG_FLAG,
                 f"--workdir={workdirs[index]}", "--strategy=multi_worker",
                 "--config.training.steps=2", *helpers.TINY_FLAGS],
                cwd=conftest.REPO_ROOT, env=_env(TF_CONFIG=tf_config), stdout=log,
                stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 420
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read())
            log.close()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-5000:]
    assert "MultiWorkerMirroredStrategy" in outputs[0] or "multi-worker" in outputs[0].lower()
    chief, other = workdirs
    assert _checkpoint_step(chief) == 2
    state = tf.train.get_checkpoint_state(workdir_lib.checkpoint_dir(chief))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2"]
    assert [r["step"] for r in _metrics(chief)] == [1, 2]
    # Only the chief writes: the other worker's workdir gets no checkpoint, config or metrics.
    assert not os.path.exists(workdir_lib.checkpoint_dir(other))
    assert not os.path.exists(os.path.join(other, "config.json"))
    assert not os.path.exists(os.path.join(other, workdir_lib.METRICS_FILE))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
