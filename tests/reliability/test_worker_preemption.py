"""SIGTERM to one worker of a two-process MultiWorkerMirroredStrategy job on loopback: through
TensorFlow's PreemptionCheckpointHandler both workers stop after the same iteration, save the
checkpoint of that step together and exit with status 143; restarting both resumes from it."""

import json
import os
import re
import signal
import sys
import time

import pytest

from tests.reliability import common, recorder
from tests.reliability.test_worker_death import _free_ports
from tfbiggan.training import workdir as workdir_lib

PREEMPTED = recorder.case(
    "Distributed", "SIGTERM to the non-chief worker of a two-process "
    "MultiWorkerMirroredStrategy job (loopback), mid-training",
    "PreemptionCheckpointHandler makes both stop at the same step; both save it (exit 143), "
    "the chief's checkpoint holds it; restarting both resumes from that step and finishes",
    message="a peer worker received a termination signal")

TOTAL_STEPS = 40
_FLAGS = ("--strategy=multi_worker", "--config.checkpoint.every=1000",
          f"--config.training.steps={TOTAL_STEPS}")
_STOPPED = re.compile(r"Stopped at step (\d+): (SIGTERM received|a peer worker received a "
                      r"termination signal); the checkpoint of step \1 is written")


def _start_workers(workdir, tmp_path, tag):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes, logs = [], []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        log = tmp_path / f"{tag}_worker{index}.log"
        logs.append(log)
        processes.append(common.start_train(workdir, log, *_FLAGS, TF_CONFIG=tf_config))
    return processes, logs


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


@PREEMPTED
@pytest.mark.slow
def test_sigterm_to_one_worker_stops_both_at_one_step_and_both_resume(tmp_path):
    workdir = str(tmp_path / "run")  # Shared: the non-chief worker restores from it too.
    started = time.monotonic()
    processes, logs = _start_workers(workdir, tmp_path, "first")
    try:
        common.wait_for(lambda: common.last_step(workdir) >= 3, 300, processes[1],
                        "step 3 of the chief")
        os.kill(processes[1].pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=180)
    finally:
        _stop(processes)
    outputs = [log.read_text(encoding="utf-8") for log in logs]
    stops = []
    for process, output in zip(processes, outputs):
        assert process.returncode == 143, output[-3000:]
        match = _STOPPED.search(output)
        assert match, output[-3000:]
        stops.append((int(match.group(1)), match.group(2)))
    step = stops[0][0]
    assert stops == [(step, "a peer worker received a termination signal"),
                     (step, "SIGTERM received")]
    assert PREEMPTED.message in outputs[0]
    assert 3 <= step < TOTAL_STEPS
    assert common.last_step(workdir) == step  # The last completed iteration was saved.
    latest = common.listed_checkpoints(workdir)[-1]
    assert latest == os.path.join(workdir_lib.checkpoint_dir(workdir), f"ckpt-{step}")
    assert int(common.checkpoint_tensors(latest)["step/.ATTRIBUTES/VARIABLE_VALUE"]) == step

    processes, logs = _start_workers(workdir, tmp_path, "restart")
    try:
        for process in processes:
            process.wait(timeout=300)
    finally:
        _stop(processes)
    for process, log in zip(processes, logs):
        output = log.read_text(encoding="utf-8")
        assert process.returncode == 0, output[-3000:]
        assert f"Resumed from {latest} (step {step})" in output, output[-3000:]
    assert common.step_of(common.listed_checkpoints(workdir)[-1]) == TOTAL_STEPS
    steps = [record["step"] for record in common.metrics(workdir)]
    assert steps == list(range(1, TOTAL_STEPS + 1))  # No step lost or run twice.
    print(f"two-worker preemption and restart in {time.monotonic() - started:.0f} s "
          f"(stopped at step {step})")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
