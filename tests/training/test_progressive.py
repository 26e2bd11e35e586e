"""Progressive growing: the schedule as a function of the step, in-graph assignment, EMA of the
growth state, one XLA-compiled iteration for every stage, and resuming mid-fade through the
Trainer."""

import math
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training import helpers
from tfbiggan.models import presets
from tfbiggan.models.progan_training import ProGANTrainingDiscriminator, ProGANTrainingGenerator
from tfbiggan.training import ema, launch, progressive, trainer as trainer_lib
from tfbiggan.training.step import GANStep, StepConfig


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
    config.model.overrides.hierarchical = None       # BigGAN options of the digits recipe.
    config.model.overrides.shared_embedding = None
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


def _progan_iteration(jit_compile):
    """One ProGAN iteration as one tf.function: the schedule's stage and α assigned from the
    step, a WGAN-GP (+ drift) D update, a G update and the EMA. 8×8 models (2 stages) with the
    same initial weights for every call; the schedule is stage 0 at step 0, the fade-in of
    stage 1 at steps 1-2 (α = 0, 0.5) and stage 1 from step 3.

    Latents and the penalty's ε are fixed functions of the step: TensorFlow's stateless RNG
    kernels and XLA's draw different numbers on the CPU.

    Returns:
      (iteration function (images, labels, step) -> stats, [G, D, EMA generator], phases).
    """
    keras.utils.set_random_seed(3)
    kwargs = dict(resolution=8, num_classes=3, fmap_base=16, fmap_max=8)
    generator = ProGANTrainingGenerator(latent_dim=4, name="generator", **kwargs)
    discriminator = ProGANTrainingDiscriminator(name="discriminator", **kwargs)
    ema_generator = ProGANTrainingGenerator(latent_dim=4, name="ema_generator", **kwargs)
    ema_generator.set_weights(generator.get_weights())
    optimizers = [keras.optimizers.Adam(1e-2, beta_2=0.99, epsilon=1e-6) for _ in range(2)]
    optimizers[0].build(generator.trainable_variables)
    optimizers[1].build(discriminator.trainable_variables)
    gan_step = GANStep(generator, discriminator, *optimizers, StepConfig(
        global_batch_size=4, num_d_steps=1, loss="wgan_gp", gp_lambda=10.0))

    def latents(step, stream, index, sub_step, batch):
        del sub_step
        phase = tf.cast(step * 7 + stream * 3 + index, tf.float32)
        rows = tf.cast(tf.reshape(tf.range(batch * 4), [batch, 4]), tf.float32)
        z = 1.5 * tf.sin(1.3 * rows + phase)
        y = tf.math.floormod(tf.range(batch) * 2 + tf.cast(step, tf.int32) + stream, 3)
        return z, y

    def penalty_epsilon(step, index, sub_step, batch):
        del index, sub_step
        return 0.5 + 0.45 * tf.sin(tf.cast(tf.range(batch), tf.float32) + tf.cast(step,
                                                                                 tf.float32))

    gan_step._latents = latents  # pylint: disable=protected-access
    gan_step._penalty_epsilon = penalty_epsilon  # pylint: disable=protected-access
    models = [generator, discriminator, ema_generator]
    phases = progressive.build_phases(2, 4, 8, (4, 4), images_per_example=1)
    schedule = progressive.ProgressiveSchedule(phases, models)
    pairs = ema.averaged_pairs(generator, ema_generator)

    def iteration(images, labels, step):
        schedule.assign(step)
        stats = gan_step.replica_iteration(images, labels, step)
        ema.update_ema(pairs, step, 0.9, 0)
        return stats

    return tf.function(iteration, jit_compile=jit_compile), models, phases


@pytest.mark.slow
def test_xla_iteration_matches_the_graph_iteration_at_every_stage_with_one_trace():
    runs = []
    for jit_compile in (False, True):
        iteration, models, phases = _progan_iteration(jit_compile)
        initial = helpers.snapshot(models[0])
        records, seconds = [], []
        for step in range(4):
            images, labels = helpers.random_batch(4, 8, 3, seed=step)
            start = time.perf_counter()
            stats = iteration(tf.constant(images), tf.constant(labels),
                              tf.constant(step, tf.int64))
            seconds.append(time.perf_counter() - start)
            _, stage, alpha = progressive.state_at(phases, step)
            for model in models:
                assert int(model.stage.numpy()) == stage
                assert float(model.alpha.numpy()) == pytest.approx(alpha, abs=1e-7)
            records.append(({k: float(v) for k, v in stats.items()},
                            [helpers.snapshot(m) for m in models]))
        # One trace serves stage 0, the fade-in and stage 1.
        assert iteration.experimental_get_tracing_count() == 1
        if jit_compile:
            # And one XLA compilation: the first call traces and compiles (tens of seconds),
            # the others only run (milliseconds). A value XLA needs as a compile-time constant
            # (e.g. the step) would make it compile again at every step.
            assert max(seconds[1:]) < 0.2 * seconds[0], seconds
        runs.append(records)
    assert [progressive.state_at(phases, s)[1:] for s in range(4)] == [
        (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0)]
    for step, ((graph_stats, graph_weights), (xla_stats, xla_weights)) in enumerate(zip(*runs)):
        assert graph_stats.keys() == xla_stats.keys()
        assert all(np.isfinite(v) for v in xla_stats.values())
        for key, value in graph_stats.items():
            assert xla_stats[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (step, key)
        for name, xla, graph in zip(("G", "D", "EMA"), xla_weights, graph_weights):
            helpers.assert_snapshots_close(xla, graph, atol=2e-5, rtol=1e-4,
                                           what=f"step {step} {name}")
    # The weights of the 8×8 stage moved during the fade-in and the stabilisation.
    final = dict(runs[1][-1][1][0])
    moved = [path for path, value in initial if "8x8" in path
             and np.abs(final[path] - value).max() > 1e-4]
    assert moved


@pytest.mark.slow
def test_resume_mid_fade_restores_stage_and_alpha(tmp_path):
    config = tiny_progan_config(steps=3)
    first = launch.train(config, str(tmp_path), progress=False)
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
