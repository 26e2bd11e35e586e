"""Progressive growing: the schedule as a function of the step, in-graph assignment, EMA of the
growth state, and resuming mid-fade through the Trainer."""

import math
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.training import helpers
from tfbiggan.models import presets
from tfbiggan.training import ema, progressive, trainer as trainer_lib


def _phases(batch_sizes=(10, 10, 10)):
    # 100 images per stabilisation and 60 per fade-in, 1 real image per example and step.
    return progressive.build_phases(3, 100, 60, batch_sizes, images_per_example=1)


def test_phases_by_hand():
    starts = [(p.stage, p.fading, p.start, p.steps) for p in _phases()]
    assert starts == [(0, False, 0, 10), (1, True, 10, 6), (1, False, 16, 10),
                      (2, True, 26, 6), (2, False, 32, math.inf)]


@pytest.mark.parametrize("step, expected", [
    (0, (0, 0, 1.0)), (9, (0, 0, 1.0)), (10, (1, 1, 0.0)), (12, (1, 1, 2 / 6)),
    (16, (2, 1, 1.0)), (29, (3, 2, 0.5)), (32, (4, 2, 1.0)), (10_000, (4, 2, 1.0))])
def test_state_at_and_in_graph_state_agree_with_hand_values(step, expected):
    phases = _phases()
    index, stage, alpha = progressive.state_at(phases, step)
    assert (index, stage) == expected[:2]
    assert alpha == pytest.approx(expected[2])
    schedule = progressive.ProgressiveSchedule(phases, [])
    graph_stage, graph_alpha = tf.function(schedule.state)(tf.constant(step, tf.int64))
    assert int(graph_stage) == stage
    assert float(graph_alpha) == pytest.approx(expected[2], abs=1e-7)


def test_batch_per_stage_changes_phase_lengths_and_segments():
    phases = _phases((10, 10, 5))
    # Stage 2 fades in over 60 / 5 = 12 steps from step 26.
    assert [(p.start, p.steps, p.batch_size) for p in phases][3:] == [(26, 12, 5),
                                                                     (38, math.inf, 5)]
    assert progressive.segment_of(phases, 25) == (0, 0)
    assert progressive.segment_of(phases, 30) == (26, 1)
    with pytest.raises(ValueError, match="`batch_sizes` must hold one batch per stage"):
        progressive.build_phases(3, 100, 60, (10, 10), 1)


def test_assign_inside_one_compiled_function_without_retracing():
    generator, discriminator = presets.from_preset("progan_mini_32")
    schedule = progressive.ProgressiveSchedule(_phases() + [], [generator, discriminator])
    # progan_mini_32 has 4 stages; the 3-stage schedule above only reaches stage 2.
    traces = []

    @tf.function
    def assign(step):
        traces.append(1)
        schedule.assign(step)

    for step in (3, 12, 29):
        assign(tf.constant(step, tf.int64))
        _, stage, alpha = progressive.state_at(schedule.phases, step)
        for model in (generator, discriminator):
            assert int(model.stage.numpy()) == stage
            assert float(model.alpha.numpy()) == pytest.approx(alpha, abs=1e-7)
    assert len(traces) == 1


def test_ema_copies_the_integer_stage():
    generator, _ = presets.from_preset("progan_mini_32")
    ema_generator, _ = presets.from_preset("progan_mini_32")
    generator.set_stage(2, alpha=0.25)
    pairs = ema.averaged_pairs(generator, ema_generator)
    ema.update_ema(pairs, tf.constant(100, tf.int64), 0.9, 0)
    assert int(ema_generator.stage.numpy()) == 2  # Copied, not 0.9·0 + 0.1·2.
    # α is a float and is averaged: 0.9·1 + 0.1·0.25.
    assert float(ema_generator.alpha.numpy()) == pytest.approx(0.925)


def tiny_progan_config(steps=4, **training):
    config = helpers.tiny_config(**training)
    config.model.preset = "progan_mini_32"
    config.model.overrides.ch = None
    config.model.overrides.num_truncation_stats = None
    config.progressive.enabled = True
    config.progressive.stabilize_images = 8   # 2 steps per phase at batch 4.
    config.progressive.fade_images = 8
    config.training.steps = steps
    config.training.num_d_steps = 1
    config.training.loss = "wgan_gp"
    config.training.gp_lambda = 0.0  # The penalty's double backward through 4 stages is slow.
    config.training.ortho_beta = 0.0
    config.training.g_lr = 1e-3
    config.training.d_lr = 1e-3
    config.training.beta2 = 0.99
    return config


@pytest.mark.slow
def test_resume_mid_fade_restores_stage_and_alpha(tmp_path):
    config = tiny_progan_config(steps=3)
    first = trainer_lib.train(config, str(tmp_path), progress=False)
    # The last iteration was step 2: the fade-in of stage 1 (steps 2-3) at α = 0.
    phases = first.progressive.phases
    assert progressive.state_at(phases, 2)[1:] == (1, 0.0)
    config = tiny_progan_config(steps=4)
    config.training.steps = 4
    second = trainer_lib.Trainer(config, str(tmp_path))
    assert second.restore_or_initialize() == 3
    for model in (second.generator, second.discriminator, second.ema_generator):
        assert int(model.stage.numpy()) == 1
        assert float(model.alpha.numpy()) == pytest.approx(0.0)
    second.train(progress=False)
    # Step 3 ran mid-fade: stage 1, α = (3 − 2) / 2.
    for model in (second.generator, second.discriminator, second.ema_generator):
        assert int(model.stage.numpy()) == 1
        assert float(model.alpha.numpy()) == pytest.approx(0.5)


@pytest.mark.slow
def test_tiny_progan_trains_through_the_trainer_with_improved_techniques(tmp_path):
    config = tiny_progan_config(steps=7, feature_matching="add", historical_averaging_g=1e-3,
                                historical_averaging_d=1e-3)
    config.model.overrides.minibatch_kernels = 4
    config.model.overrides.minibatch_kernel_dim = 3
    config.progressive.batch_sizes = (4, 4, 8, 8)
    trainer = trainer_lib.Trainer(config, str(tmp_path))
    before = [w.numpy().copy() for w in trainer.generator.trainable_weights]
    last = trainer.train(progress=False)
    assert all(np.isfinite(v) for v in last.values())
    # Phases (2 steps each at batch 4): stage 0 [0, 2), fade 1 [2, 4), stabilise 1 [4, 6);
    # stage 2 fades in at batch 8 (8 images = 1 step): the last step, 6, at α = 0.
    assert (int(trainer.generator.stage.numpy()), float(trainer.generator.alpha.numpy())) \
        == (2, 0.0)
    assert trainer.gan_step.config.global_batch_size == 8
    assert int(trainer.gan_step.g_history.count.numpy()) == 1 + 7
    changed = [not np.array_equal(a, w.numpy())
               for a, w in zip(before, trainer.generator.trainable_weights)]
    assert any(changed)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
