"""A worker of a two-process MultiWorkerMirroredStrategy job on loopback dies (`kill -9` after
the first checkpoint): the surviving worker fails within a bounded time instead of hanging,
and restarting both workers resumes from the last checkpoint."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests import conftest
from tests.reliability import common, recorder

DEATH = recorder.case(
    "Distributed", "One worker of a two-process MultiWorkerMirroredStrategy job (loopback) is "
    "killed with `kill -9` after the first checkpoint",
    "the surviving worker exits with an error naming the lost peer within the time bound "
    "(no hang); restarting both workers (same workdir) resumes from the last checkpoint and "
    "finishes", message="Resumed from")

TOTAL_STEPS = 10
SURVIVOR_BOUND = 150  # Seconds the surviving worker may take to notice and exit.
_FLAGS = ("--strategy=multi_worker", "--config.checkpoint.every=1",
          f"--config.training.steps={TOTAL_STEPS}")


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start_workers(workdir, tmp_path, tag):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes, logs = [], []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        log_path = tmp_path / f"{tag}_worker{index}.log"
        log = open(log_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        logs.append(log_path)
        processes.append(subprocess.Popen(  # pylint: disable=consider-using-with
            common.train_command(workdir, *_FLAGS), cwd=conftest.REPO_ROOT,
            env=common.env(TF_CONFIG=tf_config), stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return processes, logs


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


@DEATH
@pytest.mark.slow
def test_surviving_worker_fails_in_bounded_time_and_both_resume(tmp_path):
    workdir = str(tmp_path / "run")  # Shared: the non-chief worker restores from it too.
    processes, logs = _start_workers(workdir, tmp_path, "first")
    try:
        deadline = time.monotonic() + 240
        while not common.listed_checkpoints(workdir):
            assert all(p.poll() is None for p in processes), logs[0].read_text()[-3000:]
            assert time.monotonic() < deadline, "no first checkpoint"
            time.sleep(0.05)
        os.kill(processes[1].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        processes[1].wait(timeout=30)
        try:
            processes[0].wait(timeout=SURVIVOR_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the surviving worker still runs {SURVIVOR_BOUND} s after its peer "
                        f"died:\n{logs[0].read_text()[-3000:]}")
        waited = time.monotonic() - killed_at
    finally:
        _stop(processes)
    survivor = logs[0].read_text(encoding="utf-8")
    assert processes[0].returncode not in (0, None), survivor[-3000:]
    assert re.search(r"Unavailable|unavailable|heartbeat|aborted|Aborted|lost|failed",
                     survivor), survivor[-3000:]
    assert waited < SURVIVOR_BOUND
    listed = common.listed_checkpoints(workdir)
    last = common.step_of(listed[-1])
    assert 1 <= last < TOTAL_STEPS
    for path in listed:
        common.checkpoint_tensors(path)

    processes, logs = _start_workers(workdir, tmp_path, "restart")
    try:
        for process in processes:
            process.wait(timeout=300)
    finally:
        _stop(processes)
    outputs = [log.read_text(encoding="utf-8") for log in logs]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
        resumed = f"{DEATH.message} {os.path.join(workdir, 'checkpoints', f'ckpt-{last}')}"
        assert f"{resumed} (step {last})" in output, output[-3000:]
    assert common.step_of(common.listed_checkpoints(workdir)[-1]) == TOTAL_STEPS
    print(f"survivor exited {waited:.1f} s after the kill")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
