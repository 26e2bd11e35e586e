"""Non-finite losses, gradients and weights: `training.nonfinite = "stop"` (the default) ends
the run naming the step, keeping the last good checkpoint; "skip" leaves every weight, the EMA
and the optimizer state as they were, advances the step and counts the skipped steps."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.reliability import common, recorder
from tests.training import helpers
from tfbiggan.training import trainer as trainer_lib

STOP_CLI = recorder.case(
    "Training", "NaN loss with `training.nonfinite=\"stop\"` (default), through the CLI",
    "exit code 1, no traceback; stderr names the step, the values and the last good "
    "checkpoint, which stays listed and loadable; nothing non-finite is logged",
    message="error: Non-finite values at step 3")
SKIP = recorder.case(
    "Training", "NaN batch with `training.nonfinite=\"skip\"`",
    "the iteration is undone: G, D, EMA and both optimizers' state (slots, update counters) "
    "are unchanged, the step advances, a warning is logged and metrics.jsonl counts "
    "`skipped_steps` (kept across a resume); the next good batch trains normally",
    message="Skipped the iteration")
SKIP_TWO_REPLICAS = recorder.case(
    "Training", "NaN batch with `training.nonfinite=\"skip\"` on two replicas "
    "(MirroredStrategy)", "every replica's copy of every variable is unchanged; the step "
    "advances", message="skipped_steps")
BAD_MODE = recorder.case(
    "Config", "`training.nonfinite` not \"stop\" or \"skip\"", "ValueError before anything "
    "is built", message="config field `training.nonfinite` must be one of ['stop', 'skip'], "
    "got 'ignore'")


def _constant_dataset(trainer, images, labels):
    def dataset(start_step):
        del start_step
        return trainer.strategy.distribute_datasets_from_function(
            lambda _: tf.data.Dataset.from_tensors((images, labels)).repeat())
    return dataset


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


def _replica_values(variables):
    return [copy for v in variables for copy in helpers.replica_copies(v)]


def _poison(config, replicas=1, resolution=32):
    """An all-NaN batch of one iteration for one replica."""
    batch = config.training.batch_size * config.training.num_d_steps // replicas
    return (np.full((batch, resolution, resolution, 3), np.nan, np.float32),
            np.zeros((batch,), np.int32))


@SKIP
@pytest.mark.slow
def test_skip_leaves_every_variable_unchanged_and_counts(tmp_path, caplog):
    config = helpers.tiny_config(nonfinite="skip", num_d_steps=1, ema_start=0)
    workdir = str(tmp_path)
    trainer = trainer_lib.Trainer(config, workdir)
    trainer.train(steps=1, progress=False)
    guarded = trainer._guarded_variables()  # pylint: disable=protected-access
    ids = {id(v) for v in guarded}
    # G, D, the EMA copy and both optimizers (slots and update counters) are all guarded.
    for model in (trainer.generator, trainer.discriminator, trainer.ema_generator):
        assert {id(w) for w in model.weights} <= ids, model.name
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
        assert {id(v) for v in optimizer.variables} <= ids
        assert id(optimizer.iterations) in ids
    assert id(trainer.step) not in ids
    before = _values(guarded)
    d_updates = int(trainer.d_optimizer.iterations.numpy())

    trainer.dataset = _constant_dataset(trainer, *_poison(config))
    with caplog.at_level("WARNING"):
        trainer.train(steps=3, progress=False)
    assert int(trainer.step.numpy()) == 3
    after = _values(guarded)
    for variable, a, b in zip(guarded, before, after):
        np.testing.assert_array_equal(b, a, err_msg=variable.path)
    assert int(trainer.d_optimizer.iterations.numpy()) == d_updates
    assert SKIP.message in caplog.text and "step 2" in caplog.text and "step 3" in caplog.text
    records = common.metrics(workdir)
    assert [(r["step"], r["skipped_steps"]) for r in records] == [(1, 0), (2, 1), (3, 2)]
    assert all(np.isfinite(v) for r in records for k, v in r.items() if k != "time")

    # The checkpoint of step 3 holds the step-1 weights; a resumed run keeps the count and
    # trains again on good data.
    resumed = trainer_lib.Trainer(config, workdir)
    assert resumed.restore_or_initialize() == 3
    guarded = resumed._guarded_variables()  # pylint: disable=protected-access
    for variable, a in zip(guarded, before):
        np.testing.assert_array_equal(variable.numpy(), a, err_msg=variable.path)
    resumed.train(steps=4, progress=False)
    assert common.metrics(workdir)[-1]["step"] == 4
    assert common.metrics(workdir)[-1]["skipped_steps"] == 2
    changed = [v.path for v, a in zip(resumed.generator.trainable_weights, before)
               if not np.array_equal(v.numpy(), a)]
    assert changed and int(resumed.d_optimizer.iterations.numpy()) == d_updates + 1


@SKIP_TWO_REPLICAS
@pytest.mark.slow
def test_skip_on_two_replicas(tmp_path):
    config = helpers.tiny_config(nonfinite="skip", num_d_steps=1, ema_start=0)
    trainer = trainer_lib.Trainer(config, str(tmp_path), helpers.two_replica_strategy())
    guarded = trainer._guarded_variables()  # pylint: disable=protected-access
    before = _replica_values(guarded)
    trainer.dataset = _constant_dataset(trainer, *_poison(config, replicas=2))
    trainer.train(steps=1, progress=False)
    assert int(trainer.step.numpy()) == 1
    for a, b in zip(before, _replica_values(guarded)):
        np.testing.assert_array_equal(b, a)
    assert common.metrics(str(tmp_path))[-1][SKIP_TWO_REPLICAS.message] == 1


@BAD_MODE
def test_unknown_nonfinite_mode_is_named():
    config = helpers.tiny_config()
    config.training.nonfinite = "ignore"
    with pytest.raises(ValueError) as error:
        trainer_lib.Trainer(config, "/nonexistent-unused")
    assert BAD_MODE.message in str(error.value)


@STOP_CLI
@pytest.mark.slow
def test_cli_stops_on_non_finite_values(tmp_path):
    workdir = str(tmp_path / "run")
    # Steps 1 and 2 train on real images; the images of step 3 on are NaN.
    code, _, stderr, _ = common.run_train(
        workdir, "--config.training.steps=5", "--config.checkpoint.every=1", nan_from=2)
    assert code == 1, stderr[-3000:]
    assert STOP_CLI.message in stderr, stderr[-3000:]
    assert "the last good checkpoint is" in stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith(os.path.join(workdir, "checkpoints", "ckpt-2") + "."), \
        stderr[-2000:]
    assert [r["step"] for r in common.metrics(workdir)] == [1, 2]
    assert [os.path.basename(p) for p in common.listed_checkpoints(workdir)] == [
        "ckpt-1", "ckpt-2"]
    assert int(common.checkpoint_tensors(os.path.join(workdir, "checkpoints", "ckpt-2"))[
        "step/.ATTRIBUTES/VARIABLE_VALUE"]) == 2


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
