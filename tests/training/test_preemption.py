"""Stopping on signals (tfbiggan/training/preemption.py) and the checkpoint cadence
(tfbiggan/training/checkpoint_cadence.py), in-process. The command line under SIGTERM is
tested in tests/reliability/test_preemption.py."""

import json
import os
import signal
import sys

import pytest
import tensorflow as tf

from tests.training import helpers
from tfbiggan.training import checkpoint_cadence, preemption
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training import workdir as workdir_lib


def test_exit_status_is_128_plus_the_signal():
    assert preemption.exit_status(signal.SIGTERM) == 143
    assert preemption.exit_status(signal.SIGINT) == 130
    stopped = preemption.Preempted(7, signal.SIGTERM, "/w/checkpoints/ckpt-7")
    assert stopped.exit_status == 143 and stopped.step == 7
    assert str(stopped) == (
        "Stopped at step 7: SIGTERM received; the checkpoint of step 7 is written "
        "(/w/checkpoints/ckpt-7). Exit status 143; rerun the same command to resume.")
    by_peer = preemption.Preempted(3, signal.SIGTERM, by_peer=True)
    assert "a peer worker received a termination signal" in str(by_peer)


def test_stop_request_records_signals_and_restores_the_handlers(caplog):
    stop = preemption.StopRequest()
    before = {s: signal.getsignal(s) for s in preemption.SIGNALS}
    assert stop.install() and stop.installed
    try:
        with caplog.at_level("WARNING"):
            signal.raise_signal(signal.SIGTERM)   # Would end the process without the handler.
            signal.raise_signal(signal.SIGINT)    # Would raise KeyboardInterrupt.
        assert stop.requested and stop.signum == signal.SIGTERM  # The first one counts.
        assert "SIGTERM received: stopping after the current iteration" in caplog.text
        assert "SIGINT received again: already stopping" in caplog.text
    finally:
        stop.uninstall()
    assert {s: signal.getsignal(s) for s in preemption.SIGNALS} == before
    stop.clear()
    assert not stop.requested and stop.signum is None


def test_cadence_by_steps_and_by_seconds():
    now = [100.0]
    cadence = checkpoint_cadence.CheckpointCadence(5, every_secs=30, clock=lambda: now[0])
    assert [s for s in range(1, 16) if cadence.due(s)] == [5, 10, 15]  # No time has passed.
    now[0] = 129.9
    assert not cadence.due(7)
    now[0] = 130.0
    assert cadence.due(7)
    cadence.saved()
    assert not cadence.due(8)
    now[0] = 160.0
    assert cadence.due(9)
    off = checkpoint_cadence.CheckpointCadence(5, every_secs=0, clock=lambda: now[0])
    now[0] = 1e9
    assert not off.due(7) and off.due(10)


def test_agreement_sums_the_flags_of_every_replica():
    strategy = helpers.two_replica_strategy()
    agree = preemption.agreement(strategy)
    assert agree(True) is True
    assert agree(False) is False


def _metric_steps(workdir):
    with open(os.path.join(workdir, workdir_lib.METRICS_FILE), encoding="utf-8") as f:
        return [json.loads(line)["step"] for line in f]


def _signal_during_iteration(trainer, number, *signals):
    """Makes iteration `number` (1-based, of this train call) raise `signals` while it runs."""
    iteration = trainer.iteration_fn()
    calls = []

    def signalling(iterator):
        result = iteration(iterator)
        calls.append(1)
        if len(calls) == number:
            for signum in signals:
                signal.raise_signal(signum)
        return result

    trainer._iteration = signalling  # pylint: disable=protected-access


@pytest.mark.slow
def test_sigint_stops_at_the_boundary_with_a_checkpoint_and_the_run_resumes(tmp_path, caplog):
    config = helpers.tiny_config(num_d_steps=1, steps=6)
    config.checkpoint.every = 100
    workdir = str(tmp_path)
    trainer = trainer_lib.Trainer(config, workdir)
    before = {s: signal.getsignal(s) for s in preemption.SIGNALS}
    _signal_during_iteration(trainer, 2, signal.SIGINT, signal.SIGINT)
    with caplog.at_level("INFO", logger="absl"), pytest.raises(preemption.Preempted) as stopped:
        trainer.train(progress=False)
    directory = workdir_lib.checkpoint_dir(workdir)
    assert stopped.value.step == 2 and stopped.value.exit_status == 130
    assert stopped.value.checkpoint == os.path.join(directory, "ckpt-2")
    assert "SIGINT received: stopping after the current iteration" in caplog.text
    assert "SIGINT received again: already stopping" in caplog.text
    assert "Stopped at step 2: SIGINT received" in caplog.text
    # Handlers put back and the flag cleared: Ctrl-C works as before outside training.
    assert {s: signal.getsignal(s) for s in preemption.SIGNALS} == before
    assert not preemption.STOP.requested
    assert tf.train.latest_checkpoint(directory) == os.path.join(directory, "ckpt-2")
    assert _metric_steps(workdir) == [1, 2]

    resumed = trainer_lib.Trainer(config, workdir)
    with caplog.at_level("INFO", logger="absl"):
        resumed.train(progress=False)
    assert f"Resumed from {os.path.join(directory, 'ckpt-2')} (step 2)" in caplog.text
    assert _metric_steps(workdir) == [1, 2, 3, 4, 5, 6]
    assert tf.train.latest_checkpoint(directory) == os.path.join(directory, "ckpt-6")


@pytest.mark.slow
def test_signal_during_a_periodic_save_does_not_save_twice(tmp_path, monkeypatch):
    config = helpers.tiny_config(num_d_steps=1, steps=6)
    config.checkpoint.every = 2
    trainer = trainer_lib.Trainer(config, str(tmp_path))
    saves = []
    save = trainer.manager.save

    def signalling_save(*args, **kwargs):
        saves.append(kwargs["checkpoint_number"])
        if len(saves) == 2:  # While the checkpoint of step 4 is written.
            signal.raise_signal(signal.SIGTERM)
        return save(*args, **kwargs)

    monkeypatch.setattr(trainer.manager, "save", signalling_save)
    with pytest.raises(preemption.Preempted) as stopped:
        trainer.train(progress=False)
    assert stopped.value.step == 4 and stopped.value.exit_status == 143
    assert saves == [2, 4]
    assert _metric_steps(str(tmp_path)) == [1, 2, 3, 4]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
