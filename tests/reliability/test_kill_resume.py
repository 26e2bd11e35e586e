"""`kill -9` of the training CLI at seeded random points (during a step or a checkpoint write,
with a checkpoint every step), ten times in a row: every restart resumes from the latest
complete checkpoint, the step never goes backwards, every listed checkpoint is loadable, and
the final weights equal those of an uninterrupted run (deterministic ops)."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests import conftest
from tests.reliability import common, recorder

KILL = recorder.case(
    "Training", "`kill -9` of the training CLI at 10 seeded random points (in a step or while a "
    "checkpoint is written; a checkpoint every step)",
    "every restart resumes from the latest complete checkpoint; the step never goes back; "
    "every checkpoint listed in the state file loads; the final weights equal an "
    "uninterrupted run's (`training.deterministic=True`)", message="Resumed from")

KILLS = 10
TOTAL_STEPS = 40
_FLAGS = ("--config.training.deterministic=True", "--config.checkpoint.every=1",
          f"--config.training.steps={TOTAL_STEPS}")
_RESUMED = re.compile(r"Resumed from (\S+) \(step (\d+)\)")


def _start(workdir, log_path, *flags):
    log = open(log_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        common.train_command(workdir, *flags), cwd=conftest.REPO_ROOT, env=common.env(),
        stdout=log, stderr=subprocess.STDOUT)
    return process, log


def _latest_step(workdir):
    listed = common.listed_checkpoints(workdir)
    return common.step_of(listed[-1]) if listed else 0


def _wait_for_progress(process, workdir, after, timeout):
    """Waits until a checkpoint later than step `after` is listed (or the process ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None or _latest_step(workdir) > after:
            return
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint after step {after} within {timeout} s")


@KILL
@pytest.mark.slow
def test_kill_nine_at_random_points_then_resume(tmp_path):
    rng = np.random.default_rng(20240611)
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    started = time.monotonic()
    reference, reference_log = _start(straight, tmp_path / "straight.log", *_FLAGS)
    processes = [reference]
    try:
        previous = 0
        for kill in range(KILLS):
            log_path = tmp_path / f"run{kill}.log"
            process, log = _start(killed, log_path, *_FLAGS)
            processes.append(process)
            _wait_for_progress(process, killed, previous, timeout=120)
            time.sleep(float(rng.uniform(0.0, 0.4)))
            finished = process.poll() is not None
            if not finished:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            log.close()
            output = log_path.read_text(encoding="utf-8")
            assert not finished, f"run {kill} ended before the kill:\n{output[-3000:]}"
            assert process.returncode == -signal.SIGKILL
            if kill:  # The restart resumed from the latest checkpoint at the previous kill.
                match = _RESUMED.search(output)
                assert match, output[-3000:]
                assert int(match.group(2)) == previous
                assert os.path.basename(match.group(1)) == f"ckpt-{previous}"
            latest = _latest_step(killed)
            assert latest >= max(previous, 1), (kill, latest, previous)
            for path in common.listed_checkpoints(killed):  # No corrupt listed checkpoint.
                tensors = common.checkpoint_tensors(path)
                assert int(tensors["step/.ATTRIBUTES/VARIABLE_VALUE"]) == common.step_of(path)
            previous = latest
        assert previous < TOTAL_STEPS

        code, _, stderr, _ = common.run_train(killed, *_FLAGS, timeout=180)
        assert code == 0, stderr[-3000:]
        assert f"Resumed from {os.path.join(killed, 'checkpoints', f'ckpt-{previous}')} " \
               f"(step {previous})" in stderr
        reference.wait(timeout=max(1.0, 240 - (time.monotonic() - started)))
        reference_log.close()
        assert reference.returncode == 0, (tmp_path / "straight.log").read_text()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        reference_log.close()

    final = os.path.join("checkpoints", f"ckpt-{TOTAL_STEPS}")
    expected = common.checkpoint_tensors(os.path.join(straight, final))
    actual = common.checkpoint_tensors(os.path.join(killed, final))
    # The number of saves differs; everything else is the same.
    for tensors in (expected, actual):
        tensors.pop("save_counter/.ATTRIBUTES/VARIABLE_VALUE", None)
    common.assert_same_tensors(actual, expected)
    assert int(actual["step/.ATTRIBUTES/VARIABLE_VALUE"]) == TOTAL_STEPS
    steps = [r["step"] for r in common.metrics(killed)]
    assert sorted(set(steps)) == list(range(1, TOTAL_STEPS + 1))
    # About two minutes on an idle two-core machine: ten process starts dominate.
    print(f"{KILLS} kills and restarts in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
