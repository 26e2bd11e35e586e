"""The training loop around the single-replica iteration: strategy, models, optimizers, data,
EMA, checkpoints, monitoring and the stop on non-finite values."""

import math
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import data as data_lib
from tfbiggan.models import presets
from tfbiggan.training import config_checks, ema, evaluation_hook, monitoring, strategies
from tfbiggan.training import workdir as wd
from tfbiggan.training.step import MEAN_STATS, GANStep, StepConfig


class NonFiniteError(RuntimeError):
    """A loss or gradient norm became NaN or infinite."""


def build_models(model_config, synchronized_bn=False):
    """(generator, discriminator) from the config's `model` section."""
    overrides = model_config.overrides.to_dict() if "overrides" in model_config else {}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if synchronized_bn:
        overrides["synchronized_bn"] = True
    return presets.from_preset(model_config.preset, **overrides)


def _clone(model):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    clone.set_weights(model.get_weights())
    return clone


def _optimizer(section, prefix):
    return keras.optimizers.Adam(
        learning_rate=section[f"{prefix}_lr"], beta_1=section.beta1, beta_2=section.beta2,
        epsilon=section.adam_eps)


class Trainer:
    """Builds everything a run needs inside the strategy's scope and runs the loop.

    Args:
      config: the experiment ConfigDict (see configs/).
      workdir: where checkpoints, config.json, metrics.jsonl and summaries go.
      strategy: a tf.distribute.Strategy (default: the default strategy).
    """

    def __init__(self, config, workdir, strategy=None):
        config_checks.check(config)
        self.config = config
        self.workdir = workdir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.is_chief = strategies.is_chief(self.strategy)
        cfg = config.training
        replicas = self.strategy.num_replicas_in_sync
        if cfg.batch_size % replicas:
            raise ValueError(f"`training.batch_size` {cfg.batch_size} is not divisible by the "
                             f"{replicas} replicas; use a multiple of {replicas}.")
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        if cfg.mixed_precision:
            keras.config.set_dtype_policy("mixed_bfloat16")
        # Initial weights follow the run seed, so two runs of one config start alike.
        keras.utils.set_random_seed(config.seed)
        synchronized = {"auto": replicas > 1, "on": True, "off": False}[cfg.synchronized_bn]
        with self.strategy.scope():
            self.generator, self.discriminator = build_models(config.model, synchronized)
            self.ema_generator = _clone(self.generator)
            self.g_optimizer = _optimizer(cfg, "g")
            self.d_optimizer = _optimizer(cfg, "d")
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.ema_pairs = ema.averaged_pairs(self.generator, self.ema_generator)
        self.gan_step = GANStep(
            self.generator, self.discriminator, self.g_optimizer, self.d_optimizer,
            StepConfig(global_batch_size=cfg.batch_size, num_d_steps=cfg.num_d_steps,
                       accumulation_steps=cfg.accumulation_steps, loss=cfg.loss,
                       loss_options=dict(cfg.loss_options), gp_lambda=cfg.gp_lambda,
                       r1_gamma=cfg.r1_gamma, ortho_beta=cfg.ortho_beta, seed=config.seed))
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, generator=self.generator, discriminator=self.discriminator,
            ema_generator=self.ema_generator, g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer)
        self._checkpoint_dir = wd.checkpoint_dir(workdir)
        if not self.is_chief:  # Other workers write to a scratch copy that is then removed.
            self._checkpoint_dir = tempfile.mkdtemp(prefix="tfbiggan_worker_ckpt_")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self._checkpoint_dir, max_to_keep=config.checkpoint.keep)
        self.evaluation = evaluation_hook.EvaluationHook(config.get("eval"), workdir)
        self._iteration = None

    # Set-up ---------------------------------------------------------------------------------

    def restore_or_initialize(self):
        """Restores the latest checkpoint; returns the step it resumes from (0 if fresh)."""
        latest = tf.train.latest_checkpoint(wd.checkpoint_dir(self.workdir))
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            logging.info("Resumed from %s (step %d).", latest, int(self.step.numpy()))
        elif self.is_chief:
            wd.write_config(self.workdir, self.config.to_dict(), self.generator,
                            self.discriminator)
        return int(self.step.numpy())

    def examples_per_iteration(self):
        cfg = self.config.training
        return cfg.batch_size * cfg.num_d_steps * cfg.accumulation_steps

    def dataset(self, start_step):
        """Real batches for one iteration each. Resuming replays the data order by skipping
        `start_step` iterations (`data.exact_resume`) or reseeds it."""
        cfg = self.config
        resolution = self.generator.resolution
        per_iteration = self.examples_per_iteration()
        seed = cfg.seed if cfg.data.exact_resume or not start_step else cfg.seed + start_step
        skip = start_step if cfg.data.exact_resume else 0
        data_config = data_lib.resolve_config(cfg.data.pipeline)

        def dataset_fn(input_context):
            return data_lib.make_dataset(data_config, resolution, per_iteration, seed,
                                         input_context=input_context).skip(skip)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _use_jit(self):
        if not self.config.training.jit_compile:
            return False
        if isinstance(self.strategy, (tf.distribute.MirroredStrategy,
                                      tf.distribute.MultiWorkerMirroredStrategy)):
            # The optimizers' cross-replica reduction cannot run inside an XLA cluster here.
            logging.info("jit_compile is not used under %s.", type(self.strategy).__name__)
            return False
        return True

    def iteration_fn(self):
        """A tf.function running one iteration on a distributed iterator."""
        if self._iteration is not None:
            return self._iteration
        cfg = self.config.training
        replica_fn = self.gan_step.replica_iteration
        if self._use_jit():
            replica_fn = tf.function(replica_fn, jit_compile=True)

        @tf.function
        def iteration(iterator):
            images, labels = next(iterator)
            stats = self.strategy.run(replica_fn, args=(images, labels, self.step))
            reduced = {}
            for key, value in stats.items():
                op = tf.distribute.ReduceOp.MEAN if key in MEAN_STATS else \
                    tf.distribute.ReduceOp.SUM
                reduced[key] = self.strategy.reduce(op, value, axis=None)
            ema.update_ema(self.ema_pairs, self.step, cfg.ema_decay, cfg.ema_start)
            self.step.assign_add(1)
            return reduced

        self._iteration = iteration
        return iteration

    # The loop -------------------------------------------------------------------------------

    def save(self):
        path = self.manager.save(checkpoint_number=int(self.step.numpy()))
        if not self.is_chief:
            shutil.rmtree(self._checkpoint_dir, ignore_errors=True)
            os.makedirs(self._checkpoint_dir, exist_ok=True)
        return path

    def train(self, steps=None, progress=True):
        """Trains until `steps` iterations in total (default `training.steps`).

        Returns the last logged scalars.
        """
        cfg = self.config
        total = cfg.training.steps if steps is None else steps
        start = self.restore_or_initialize()
        if start >= total:
            logging.info("Nothing to do: the workdir is at step %d >= %d.", start, total)
            return {}
        iterator = iter(self.dataset(start))
        iteration = self.iteration_fn()
        writer = monitoring.MetricsWriter(self.workdir, enabled=self.is_chief)
        bar = monitoring.Progress(total, start, enabled=progress and self.is_chief)
        last = {}
        for _ in range(start, total):
            stats = {k: float(v) for k, v in iteration(iterator).items()}
            step = int(self.step.numpy())
            bad = {k: v for k, v in stats.items() if not math.isfinite(v)}
            if bad:
                bar.close()
                raise NonFiniteError(
                    f"Non-finite values at step {step}: {bad}. Training stopped; the last good "
                    f"checkpoint is {self.manager.latest_checkpoint}.")
            last = stats
            if step % cfg.log.every == 0 or step == total:
                scalars = dict(stats)
                images = None
                if cfg.log.singular_values_every and step % cfg.log.singular_values_every == 0:
                    scalars.update(monitoring.singular_value_report(self.generator, "G"))
                    scalars.update(monitoring.singular_value_report(self.discriminator, "D"))
                if cfg.log.sample_every and step % cfg.log.sample_every == 0:
                    images = {"ema_samples": self.sample_grid()}
                writer.write(step, scalars, images)
                bar.update(step, {k: stats[k] for k in ("d_loss", "g_loss")})
            if step % cfg.checkpoint.every == 0:
                self.save()
            # Every worker takes part: saving the best checkpoint is collective.
            self.evaluation.maybe_evaluate(self, step, writer)
        bar.close()
        if int(self.step.numpy()) % cfg.checkpoint.every:
            self.save()
        return last

    def sample_grid(self, per_class=4, max_classes=10):
        """EMA-generator samples, one row per class, as a [1, H, W, 3] image in [0, 1]."""
        classes = min(self.generator.num_classes, max_classes)
        y = np.repeat(np.arange(classes), per_class).astype(np.int32)
        z = tf.random.stateless_normal([len(y), self.generator.dim_z], seed=[0, 0])
        images = self.ema_generator(z, y, training=False).numpy()
        size = images.shape[1]
        grid = images.reshape(classes, per_class, size, size, -1).transpose(0, 2, 1, 3, 4)
        grid = grid.reshape(1, classes * size, per_class * size, -1)
        return (grid + 1.0) / 2.0


def train(config, workdir, strategy=None, steps=None, progress=True):
    """Trains `config` in `workdir` (resuming if it holds checkpoints). Returns the trainer."""
    trainer = Trainer(config, workdir, strategy)
    trainer.train(steps=steps, progress=progress)
    return trainer
