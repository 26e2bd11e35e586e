"""The training loop (tfbiggan/training/trainer.py): EMA, checkpoints and resuming, the stop on
non-finite values, and config checks."""

import json
import os
import sys

import ml_collections
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config  # pylint: disable=no-name-in-module

from tests.training import helpers
from tfbiggan.training import launch, trainer as trainer_lib
from tfbiggan.training import workdir as workdir_lib


@pytest.fixture
def restore_determinism():
    """`training.deterministic` switches op determinism on for the process; switch it back."""
    was_enabled = tf_config.is_op_determinism_enabled()
    yield
    if not was_enabled:
        tf_config.disable_op_determinism()


def _metric_steps(workdir):
    with open(os.path.join(workdir, workdir_lib.METRICS_FILE), encoding="utf-8") as f:
        return [json.loads(line)["step"] for line in f]


def _checkpoint_tensors(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.slow
def test_ema_follows_its_formula_from_the_start_step(tmp_path):
    decay, start = 0.9, 2
    trainer = trainer_lib.Trainer(
        helpers.tiny_config(num_d_steps=1, ema_decay=decay, ema_start=start), str(tmp_path))
    paths = [g.path for _, g in trainer.ema_pairs]
    # Every weight is averaged (BN moving statistics and SN vectors included) except the
    # standing-statistics accumulators.
    assert any(p.endswith("bn1/moving_mean") for p in paths)
    assert any(p.endswith("bn1/moving_variance") for p in paths)
    assert any(p.endswith("conv1/u") for p in paths)
    assert any(p.endswith("linear/u") for p in paths)
    assert not any("standing" in p for p in paths)
    standing = [w for w in trainer.generator.weights if "standing" in w.path]
    assert len(paths) == len(trainer.generator.weights) - len(standing) > 0

    iterator = iter(trainer.dataset(0))
    iteration = trainer.iteration_fn()
    d = np.float32(decay)
    previous_ema = [np.array(e.numpy()) for e, _ in trainer.ema_pairs]
    previous_g = [np.array(g.numpy()) for _, g in trainer.ema_pairs]
    for step in range(4):  # The step counter during the update.
        iteration(iterator)
        ema = [np.array(e.numpy()) for e, _ in trainer.ema_pairs]
        current = [np.array(g.numpy()) for _, g in trainer.ema_pairs]
        moved = [p for p, a, b in zip(paths, current, previous_g) if not np.array_equal(a, b)]
        # The iteration changed G's kernels, BN moving statistics and SN vectors.
        assert any(p.endswith("conv1/kernel") for p in moved), step
        assert any(p.endswith("moving_mean") for p in moved), step
        assert any(p.endswith("/u") for p in moved), step
        for path, e, g, e_prev in zip(paths, ema, current, previous_ema):
            if step < start:
                np.testing.assert_array_equal(e, g, err_msg=f"step {step} {path}")
            else:
                expected = d * e_prev + (np.float32(1.0) - d) * g
                np.testing.assert_allclose(e, expected, rtol=1e-6, atol=1e-7,
                                           err_msg=f"step {step} {path}")
        if step >= start:  # The average differs from G once it is no longer a copy.
            assert any(not np.allclose(e, g, atol=1e-6) for e, g in zip(ema, current))
        previous_ema, previous_g = ema, current
    assert int(trainer.step.numpy()) == 4


@pytest.mark.slow
def test_resume_reaches_the_weights_of_an_uninterrupted_run(tmp_path, restore_determinism):
    del restore_determinism
    config = helpers.tiny_config(deterministic=True, steps=6, num_d_steps=2)
    config.checkpoint.every = 3
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")

    launch.train(config, straight, progress=False)
    first = launch.train(config, resumed, steps=3, progress=False)
    assert int(first.step.numpy()) == 3
    second = trainer_lib.Trainer(config, resumed)
    assert second.restore_or_initialize() == 3
    second.train(progress=False)
    assert int(second.step.numpy()) == 6
    # Two D updates and one G update per iteration, counted over both runs.
    assert int(second.d_optimizer.iterations.numpy()) == 12
    assert int(second.g_optimizer.iterations.numpy()) == 6

    assert _metric_steps(straight) == [1, 2, 3, 4, 5, 6]
    assert _metric_steps(resumed) == [1, 2, 3, 4, 5, 6]
    for workdir in (straight, resumed):
        state = tf.train.get_checkpoint_state(workdir_lib.checkpoint_dir(workdir))
        assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
            "ckpt-3", "ckpt-6"]
    expected = _checkpoint_tensors(workdir_lib.checkpoint_path(straight, 6))
    actual = _checkpoint_tensors(workdir_lib.checkpoint_path(resumed, 6))
    assert sorted(actual) == sorted(expected)
    assert any("ema_generator" in name for name in expected)
    assert any("d_optimizer" in name for name in expected)
    for name, value in expected.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(actual[name], value, rtol=0, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(actual[name], value, err_msg=name)
    # And the runs did train: step 6 differs from step 3.
    at_three = _checkpoint_tensors(workdir_lib.checkpoint_path(straight, 3))
    changed = [n for n in expected if n.startswith("generator/")
               and not np.allclose(at_three[n], expected[n], atol=1e-5)]
    assert changed


@pytest.mark.slow
def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
    config = helpers.tiny_config(num_d_steps=1)
    config.checkpoint.every = 1
    workdir = str(tmp_path)
    trainer = trainer_lib.Trainer(config, workdir)
    trainer.train(steps=2, progress=False)
    good = [helpers.snapshot(m) for m in (trainer.generator, trainer.discriminator,
                                          trainer.ema_generator)]

    batch = config.training.batch_size
    images = np.full((batch, 32, 32, 3), np.nan, np.float32)
    labels = np.zeros((batch,), np.int32)

    def poisoned_dataset(start_step):
        del start_step
        return trainer.strategy.distribute_datasets_from_function(
            lambda _: tf.data.Dataset.from_tensors((images, labels)).repeat())

    trainer.dataset = poisoned_dataset
    with pytest.raises(trainer_lib.NonFiniteError) as error:
        trainer.train(steps=5, progress=False)
    message = str(error.value)
    assert "step 3" in message and "d_loss" in message
    assert message.rstrip(".").endswith(os.path.join("checkpoints", "ckpt-2"))

    assert tf.train.latest_checkpoint(workdir_lib.checkpoint_dir(workdir)).endswith("ckpt-2")
    assert _metric_steps(workdir) == [1, 2]  # Nothing non-finite was logged.
    restored = trainer_lib.Trainer(config, workdir)
    assert restored.restore_or_initialize() == 2
    for name, model, expected in zip(("G", "D", "EMA"), (
            restored.generator, restored.discriminator, restored.ema_generator), good):
        helpers.assert_snapshots_close(helpers.snapshot(model), expected, atol=0, what=name)
        assert all(np.isfinite(w).all() for _, w in expected)
    ema_generator, step, _ = workdir_lib.load_ema_generator(workdir)
    assert step == 2
    helpers.assert_snapshots_close(helpers.snapshot(ema_generator), good[2], atol=0,
                                   what="loaded EMA")


def _with(config, dotted, value):
    """A copy of `config` with one field set to any value (ConfigDicts refuse type changes)."""
    fields = config.to_dict()
    section = fields
    *parents, last = dotted.split(".")
    for part in parents:
        section = section[part]
    section[last] = value
    return ml_collections.ConfigDict(fields)


@pytest.mark.parametrize("field, value, accepted", [
    ("training.batch_size", 0, "positive integer"),
    ("training.steps", -3, "positive integer"),
    ("training.num_d_steps", 0, "positive integer"),
    ("training.accumulation_steps", 2.5, "positive integer"),
    ("training.batch_size", "32", "positive integer"),
    ("checkpoint.every", True, "positive integer"),
    ("training.ema_start", -1, "non-negative integer"),
    ("training.d_lr", 0.0, "positive number"),
    ("training.g_lr", "fast", "positive number"),
    ("training.r1_gamma", -1.0, "number >= 0"),
    ("training.ema_decay", 1.0, "in [0, 1)"),
    ("training.synchronized_bn", "sometimes", "'auto', 'on' or 'off'"),
    ("model.preset", "biggan_9000", "accepted: ["),
    ("training.loss", "hinge2", "accepted: ["),
    ("training.augment", "color,zoom", "accepted: a comma-separated subset of color, "
                                       "translation, cutout"),
])
def test_bad_config_values_are_named(field, value, accepted):
    config = _with(helpers.tiny_config(), field, value)
    with pytest.raises(ValueError) as error:
        trainer_lib.Trainer(config, "/nonexistent-unused")
    message = str(error.value)
    assert f"`{field}`" in message and repr(value) in message and accepted in message, message


def test_data_channels_must_match_the_models():
    config = _with(helpers.tiny_config(), "data.pipeline.channels", 1)
    with pytest.raises(ValueError, match=r"`data.pipeline.channels` is 1 but the generator's "
                                         r"`out_channels` is 3; set "
                                         r"--config.model.overrides.out_channels=1"):
        trainer_lib.Trainer(config, "/nonexistent-unused")
    config = _with(config, "model.overrides.out_channels", 1)
    with pytest.raises(ValueError, match="the discriminator's `in_channels` is 3"):
        trainer_lib.Trainer(config, "/nonexistent-unused")


def test_unknown_preset_and_loss_list_the_accepted_names():
    for field, value, known in (("model.preset", "biggan_9000", "biggan_tiny_32"),
                                ("training.loss", "hinge2", "non_saturating")):
        with pytest.raises(ValueError, match=known):
            trainer_lib.Trainer(_with(helpers.tiny_config(), field, value), "/unused")


def test_missing_config_field_is_named():
    fields = helpers.tiny_config().to_dict()
    del fields["training"]["num_d_steps"]
    with pytest.raises(ValueError, match="`training.num_d_steps` is missing"):
        trainer_lib.Trainer(ml_collections.ConfigDict(fields), "/unused")


def test_batch_size_not_divisible_by_replicas_is_an_error():
    config = helpers.tiny_config(batch_size=5)
    with pytest.raises(ValueError, match=r"`training.batch_size` 5 is not divisible by the 2 "
                                         r"replicas; use a multiple of 2"):
        trainer_lib.Trainer(config, "/unused", helpers.two_replica_strategy())


def test_rolling_checkpoints_keep_the_newest_and_list_only_existing_ones(tmp_path):
    config = helpers.tiny_config(steps=4)
    config.checkpoint.every = 1
    config.checkpoint.keep = 2
    launch.train(config, str(tmp_path), progress=False)
    directory = tmp_path / "checkpoints"
    state = tf.train.get_checkpoint_state(str(directory))
    listed = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert listed == ["ckpt-3", "ckpt-4"]
    assert os.path.basename(state.model_checkpoint_path) == "ckpt-4"
    on_disk = sorted({name.split(".")[0] for name in os.listdir(directory)
                      if name.startswith("ckpt-")})
    assert on_disk == ["ckpt-3", "ckpt-4"]
    # Relative paths: the workdir can move.
    assert "ckpt-4" in (directory / "checkpoint").read_text() and str(tmp_path) not in (
        directory / "checkpoint").read_text()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


@pytest.mark.slow
def test_time_budget_stops_at_an_iteration_boundary_with_a_checkpoint(tmp_path, monkeypatch):
    """`train(max_seconds=)` ends the run at the first boundary past the budget and saves it."""
    clock = iter(range(1000))  # One second per reading of the clock.
    monkeypatch.setattr(trainer_lib, "time",
                        type("Clock", (), {"perf_counter": staticmethod(lambda: next(clock))}))
    config = helpers.tiny_config(steps=10)
    workdir = str(tmp_path / "run")
    trainer = trainer_lib.Trainer(config, workdir)
    # Readings: 0 at the call, then 1 and 2 (< 2.5: iterate), 3 (≥ 2.5: stop) before step 3.
    trainer.train(progress=False, max_seconds=2.5)
    assert int(trainer.step.numpy()) == 2
    assert trainer.manager.latest_checkpoint.endswith("ckpt-2")
