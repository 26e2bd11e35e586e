"""SIGTERM to the training command line (tfbiggan/training/preemption.py).

Ten SIGTERMs at seeded random moments of a CI-sized run (half during start-up, after the
restore, half during training), each followed by a rerun of the same command: every run
exits with status 143 after writing the checkpoint of its last completed iteration, the rerun
resumes from exactly that step, no iteration is ever run twice or lost, and the final weights
equal an uninterrupted run's (`training.deterministic=True`). Then SIGTERM in the middle of a
checkpoint write, and a second SIGTERM (and a SIGINT) during the shutdown save."""

import os
import re
import signal
import sys
import time

import numpy as np
import pytest

from tests.reliability import common, recorder
from tfbiggan.training import workdir as workdir_lib

TEN = recorder.case(
    "Training", "SIGTERM to the training CLI at 10 seeded random moments (5 in start-up, "
    "after the restore, 5 during training), each followed by a rerun of the same command",
    "each run ends at the next iteration boundary with exit status 143 and the checkpoint of "
    "its last completed iteration; the rerun resumes from exactly that step; every step is "
    "trained exactly once; final weights and per-step losses equal an uninterrupted run's "
    "(`training.deterministic=True`)", message="SIGTERM received; the checkpoint of step")
DURING_WRITE = recorder.case(
    "Training", "SIGTERM in the middle of a periodic checkpoint write (files written, state "
    "file not final)", "the write completes; the run stops at that step (exit 143) without "
    "another save or iteration", message="Stopped at step 6: SIGTERM received")
SECOND = recorder.case(
    "Training", "A second SIGTERM, then a SIGINT, during the shutdown save",
    "logged and ignored; the save completes; exit 143; the checkpoint reads in full (every "
    "tensor's checksum) with the stop step", message="SIGTERM received again: already stopping")
ALLOWED = recorder.case(
    "Config", "Resuming with changed non-model settings (here `checkpoint.every`)",
    "allowed; each change logged with both values; config.json records the new config",
    message="with changed settings: checkpoint.every: 3 in config.json, 1000 now")

SIGNALS = 10
TOTAL_STEPS = 80
# A checkpoint every 7 steps: some signals land in or next to a periodic save.
_FLAGS = ("--config.training.deterministic=True", "--config.checkpoint.every=7",
          f"--config.training.steps={TOTAL_STEPS}",
          # A field whose default is None, set from the command line (unused by the digits).
          "--config.data.pipeline.data_dir=/nonexistent/tensorflow_datasets")
_STOPPED = re.compile(r"Stopped at step (\d+): SIGTERM received; the checkpoint of step \1 "
                      r"is written \((\S+)\)\. Exit status 143")


def _restored(workdir, log_path, index):
    """The run got past its restore: config.json written (first run) or "Resumed from"."""
    if index == 0:
        return os.path.exists(os.path.join(workdir, workdir_lib.CONFIG_FILE))
    return "Resumed from" in _read(log_path)


def _read(path):
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _check_stopped(process, output, workdir, previous):
    """The run ended with 143 at its last completed iteration; returns that step."""
    assert process.returncode == 143, output[-3000:]
    match = _STOPPED.search(output)
    assert match, output[-3000:]
    step = int(match.group(1))
    assert step == max(common.last_step(workdir), previous), output[-3000:]
    latest = common.listed_checkpoints(workdir)[-1]
    assert match.group(2) == latest == os.path.join(workdir_lib.checkpoint_dir(workdir),
                                                    f"ckpt-{step}")
    tensors = common.checkpoint_tensors(latest)  # Reads every byte, checks every checksum.
    assert int(tensors["step/.ATTRIBUTES/VARIABLE_VALUE"]) == step
    return step


@TEN
@pytest.mark.slow
def test_ten_sigterms_at_random_moments_lose_no_iteration(tmp_path):
    rng = np.random.default_rng(20250611)
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    started = time.monotonic()
    # The uninterrupted run goes alongside the interrupted ones (the second core).
    reference = common.start_train(straight, tmp_path / "straight.log", *_FLAGS)
    processes = [reference]
    try:
        previous, during_start_up = 0, []
        for index in range(SIGNALS):
            log_path = tmp_path / f"run{index}.log"
            process = common.start_train(stopped, log_path, *_FLAGS)
            processes.append(process)
            if index % 2 == 0:  # Start-up: after the restore, before or in the first step.
                common.wait_for(lambda: _restored(stopped, log_path, index), 240, process,
                                "restore")
                time.sleep(float(rng.uniform(0.0, 0.5)))
            else:  # During training: after an iteration of this run, at a random point.
                common.wait_for(lambda: common.last_step(stopped) > previous, 240, process,
                                "new iteration")
                time.sleep(float(rng.uniform(0.0, 0.3)))
            assert process.poll() is None, f"run {index} ended early:\n{_read(log_path)}"
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=120)
            output = _read(log_path)
            step = _check_stopped(process, output, stopped, previous)
            if index:
                resumed = os.path.join(stopped, "checkpoints", f"ckpt-{previous}")
                assert f"Resumed from {resumed} (step {previous})" in output, output[-3000:]
            if step == previous:
                during_start_up.append(index)
            previous = step
        assert previous < TOTAL_STEPS

        code, _, stderr, _ = common.run_train(stopped, *_FLAGS, timeout=300)
        assert code == 0, stderr[-3000:]
        resumed = os.path.join(stopped, "checkpoints", f"ckpt-{previous}")
        assert f"Resumed from {resumed} (step {previous})" in stderr
        reference.wait(timeout=max(1.0, 600 - (time.monotonic() - started)))
        assert reference.returncode == 0, _read(tmp_path / "straight.log")[-3000:]
    finally:
        _stop(processes)

    final = os.path.join("checkpoints", f"ckpt-{TOTAL_STEPS}")
    expected = common.checkpoint_tensors(os.path.join(straight, final))
    actual = common.checkpoint_tensors(os.path.join(stopped, final))
    for tensors in (expected, actual):  # The number of saves differs; nothing else.
        tensors.pop("save_counter/.ATTRIBUTES/VARIABLE_VALUE", None)
    common.assert_same_tensors(actual, expected)
    # Every step was trained exactly once, with the losses of the uninterrupted run.
    records, reference_records = common.metrics(stopped), common.metrics(straight)
    assert [r["step"] for r in records] == list(range(1, TOTAL_STEPS + 1))
    for record, other in zip(records, reference_records):
        for key in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            assert record[key] == other[key], (record["step"], key)
    payload = workdir_lib.read_config(stopped)
    assert payload["config"]["data"]["pipeline"]["data_dir"] == \
        "/nonexistent/tensorflow_datasets"
    print(f"{SIGNALS} SIGTERMs and reruns in {time.monotonic() - started:.0f} s; stopped at "
          f"step {previous} before the last rerun; runs {during_start_up} were stopped before "
          f"their first iteration")


@DURING_WRITE
@SECOND
@ALLOWED
@pytest.mark.slow
def test_sigterm_during_a_checkpoint_write_and_during_the_shutdown_save(tmp_path):
    workdir = str(tmp_path / "run")
    markers = tmp_path / "markers"
    markers.mkdir()
    flags = ("--config.training.steps=200",)
    slow = (markers, 2.0)
    directory = workdir_lib.checkpoint_dir(workdir)

    # 1: SIGTERM while the checkpoint of step 6 is being written.
    log1 = tmp_path / "run1.log"
    process = common.start_train(workdir, log1, *flags, "--config.checkpoint.every=3",
                                 slow_saves=slow)
    try:
        common.wait_for(lambda: (markers / "writing-ckpt-6").exists(), 240, process,
                        "write of ckpt-6")
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        _stop([process])
    output = _read(log1)
    assert _check_stopped(process, output, workdir, 0) == 6
    assert DURING_WRITE.message in output
    assert (markers / "written-ckpt-6").exists()
    assert sorted(p.name for p in markers.iterdir()) == ["writing-ckpt-3", "writing-ckpt-6",
                                                         "written-ckpt-3", "written-ckpt-6"]
    assert common.last_step(workdir) == 6  # No iteration after the signal.

    # 2: the rerun (periodic checkpoints now rare) gets SIGTERM after some iterations, then
    # SIGTERM and SIGINT again while the shutdown save is being written.
    log2 = tmp_path / "run2.log"
    process = common.start_train(workdir, log2, *flags, "--config.checkpoint.every=1000",
                                 slow_saves=slow)
    try:
        common.wait_for(lambda: common.last_step(workdir) >= 9, 240, process, "step 9")
        os.kill(process.pid, signal.SIGTERM)
        writing = lambda: [p for p in markers.iterdir()  # noqa: E731
                           if p.name.startswith("writing-") and p.name not in (
                               "writing-ckpt-3", "writing-ckpt-6")]
        common.wait_for(writing, 120, process, "shutdown save")
        os.kill(process.pid, signal.SIGTERM)
        time.sleep(0.2)
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    finally:
        _stop([process])
    output = _read(log2)
    step = _check_stopped(process, output, workdir, 6)
    assert step >= 9
    assert writing()[0].name == f"writing-ckpt-{step}"
    assert (markers / f"written-ckpt-{step}").exists()
    assert f"Resumed from {os.path.join(directory, 'ckpt-6')} (step 6)" in output
    assert SECOND.message in output and "SIGINT received again: already stopping" in output
    assert ALLOWED.message in output
    assert workdir_lib.read_config(workdir)["config"]["checkpoint"]["every"] == 1000
    assert [os.path.basename(p) for p in common.listed_checkpoints(workdir)] == [
        "ckpt-3", "ckpt-6", f"ckpt-{step}"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
