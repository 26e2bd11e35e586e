"""The training loop around the single-replica iteration: strategy, models, optimizers, data,
EMA, checkpoints, monitoring, the stop on non-finite values and the stop on SIGTERM/SIGINT."""

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import data as data_lib
from tfbiggan.models import presets
from tfbiggan.progress import Progress
from tfbiggan.training import config_checks, ema, evaluation_hook, monitoring, strategies
from tfbiggan.training import checkpoint_cadence, checkpoints, init_from, preemption
from tfbiggan.training import progressive, resume_config
from tfbiggan.training import workdir as wd
from tfbiggan.training.step import MEAN_STATS, GANStep, StepConfig


class RecordFirstCheckpointManager(tf.train.CheckpointManager):
    """A CheckpointManager whose state file never lists a checkpoint whose files are gone.

    tf.train.CheckpointManager deletes the checkpoints beyond `max_to_keep` before it rewrites
    the state file without them, so a process killed in between leaves the file listing a
    deleted checkpoint. Here the deletion waits until the state file no longer lists them.
    """

    def _sweep(self):
        while self._max_to_keep and len(self._maybe_delete) > self._max_to_keep:
            filename, _ = self._maybe_delete.popitem(last=False)
            self._pending_deletes.append(filename)

    def save(self, *args, **kwargs):
        self._pending_deletes = []
        path = super().save(*args, **kwargs)
        for prefix in self._pending_deletes:
            for filename in tf.io.gfile.glob(prefix + ".*"):
                tf.io.gfile.remove(filename)
        return path


class NonFiniteError(RuntimeError):
    """A loss or gradient norm became NaN or infinite."""


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed (e.g. the disk is full); the previous one is intact."""


def build_models(model_config, synchronized_bn=False):
    """(generator, discriminator) from the config's `model` section."""
    overrides = model_config.overrides.to_dict() if "overrides" in model_config else {}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if synchronized_bn:
        overrides["synchronized_bn"] = True
    return presets.from_preset(model_config.preset, **overrides)


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
            self.ema_generator = ema.make_ema_generator(self.generator)
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
                       loss_options=_set_fields(cfg.loss_options), gp_lambda=cfg.gp_lambda,
                       r1_gamma=cfg.r1_gamma, ortho_beta=cfg.ortho_beta, seed=config.seed,
                       feature_matching=cfg.get("feature_matching", "off"),
                       historical_averaging_g=cfg.get("historical_averaging_g", 0.0),
                       historical_averaging_d=cfg.get("historical_averaging_d", 0.0),
                       augment=cfg.get("augment", ""),
                       sort_by_class=cfg.get("sort_by_class", False)))
        # Improved Techniques and progressive growing (both off unless configured).
        with self.strategy.scope():
            self.gan_step.build_history()
        histories = {name: history for name, history in (
            ("g_history", self.gan_step.g_history), ("d_history", self.gan_step.d_history))
            if history is not None}
        self.progressive = progressive.from_config(
            config, [self.generator, self.discriminator, self.ema_generator])
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, generator=self.generator, discriminator=self.discriminator,
            ema_generator=self.ema_generator, g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer, **histories)
        self._checkpoint_dir = wd.checkpoint_dir(workdir)
        if self.is_chief:  # The manager cannot start on an unreadable state file.
            checkpoints.repair_state_file(self._checkpoint_dir)
        else:  # Other workers write to a scratch copy that is then removed.
            self._checkpoint_dir = tempfile.mkdtemp(prefix="tfbiggan_worker_ckpt_")
        self.manager = RecordFirstCheckpointManager(
            self.checkpoint, self._checkpoint_dir, max_to_keep=config.checkpoint.keep)
        self.evaluation = evaluation_hook.EvaluationHook(config.get("eval"), workdir)
        self.cadence = checkpoint_cadence.CheckpointCadence(
            config.checkpoint.every, config.checkpoint.get("every_secs", 0.0), self.strategy)
        self._saved_step = None  # The step of the last checkpoint written or restored.
        self._iteration = None

    # Set-up ---------------------------------------------------------------------------------

    def restore_or_initialize(self):
        """Restores the newest readable checkpoint; returns the step it resumes from (0 if
        fresh).

        Before restoring, the model settings are compared with the workdir's config.json
        (`resume_config`: every differing field is named). A damaged checkpoint is reported by
        name and the next older one restored (`checkpoints.restore`; with
        `checkpoint.fallback=False` it is an error); the damaged files are moved into
        checkpoints/damaged/.
        """
        directory = wd.checkpoint_dir(self.workdir)
        changed = []
        if checkpoints.candidates(directory) and os.path.exists(
                os.path.join(self.workdir, wd.CONFIG_FILE)):
            changed = resume_config.check(wd.read_config(self.workdir).get("config") or {},
                                          self.config, self.workdir)
        restored = checkpoints.restore(
            self.checkpoint, directory, fallback=self.config.checkpoint.get("fallback", True),
            fallback_option="`checkpoint.fallback=True` (--config.checkpoint.fallback=True)")
        if restored is None:
            if self.config.model.get("init_from"):  # A fresh run from pretrained weights.
                init_from.initialize_trainer(self)
            if self.is_chief:
                self._write_config()
            return int(self.step.numpy())
        step = int(self.step.numpy())
        logging.info("Resumed from %s (step %d).", restored.path, step)
        self._saved_step = step
        if self.is_chief:
            if restored.damaged:
                checkpoints.set_aside(directory, restored.damaged)
                self.manager = RecordFirstCheckpointManager(
                    self.checkpoint, self._checkpoint_dir, max_to_keep=self.config.checkpoint.keep)
            if changed:  # config.json records the config the run goes on with.
                self._write_config()
        return step

    def _write_config(self):
        """Writes config.json: the config, the serialized models and the data's class names."""
        num_classes = getattr(self.generator, "num_classes", 0)
        names = (data_lib.class_names(self.config.data.pipeline, num_classes=num_classes)
                 if num_classes else None)
        wd.write_config(self.workdir, self.config.to_dict(), self.generator,
                        self.discriminator, class_names=names)

    def examples_per_iteration(self):
        cfg = self.config.training
        return self.gan_step.config.global_batch_size * cfg.num_d_steps * cfg.accumulation_steps

    def dataset(self, start_step):
        """Real batches for one iteration each. Resuming replays the data order by skipping
        `start_step` iterations (`data.exact_resume`) or reseeds it."""
        cfg = self.config
        resolution = self.generator.resolution
        per_iteration = self.examples_per_iteration()
        seed = cfg.seed if cfg.data.exact_resume or not start_step else cfg.seed + start_step
        skip = start_step if cfg.data.exact_resume else 0
        if self.progressive is not None:  # Batch segments: see tfbiggan/training/progressive.py.
            first, segment = self.progressive.segment_of(start_step)
            seed, skip = seed + segment, skip - first if cfg.data.exact_resume else 0
        data_config = data_lib.resolve_config(cfg.data.pipeline)

        def dataset_fn(input_context):
            return data_lib.make_dataset(data_config, resolution, per_iteration, seed,
                                         input_context=input_context).skip(skip)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _use_jit(self):
        requested = self.config.training.jit_compile
        if requested is None:  # Automatic: XLA where it measured faster (GPUs), not on CPUs.
            requested = bool(tf.config.list_logical_devices("GPU"))
        if not requested:
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

        skip = cfg.get("nonfinite", "stop") == "skip"
        guarded = self._guarded_variables() if skip else []

        # Without autograph: the iteration's branches are Python's (tf.cond where a tensor
        # decides), and converting every layer's code cost ~5 s at each start of a run.
        @tf.function(autograph=False)
        def iteration(iterator):
            images, labels = next(iterator)
            # "skip": keep the values from before the iteration to put back if it goes bad.
            saved = [tf.identity(v) for v in guarded]
            if self.progressive is not None:  # Stage and α of this step (no retracing).
                self.progressive.assign(self.step)
            stats = self.strategy.run(replica_fn, args=(images, labels, self.step))
            reduced = {}
            for key, value in stats.items():
                op = tf.distribute.ReduceOp.MEAN if key in MEAN_STATS else \
                    tf.distribute.ReduceOp.SUM
                reduced[key] = self.strategy.reduce(op, value, axis=None)
            ema.update_ema(self.ema_pairs, self.step, cfg.ema_decay, cfg.ema_start)
            if skip:
                reduced[SKIPPED] = _restore_if_nonfinite(reduced, guarded, saved)
            self.step.assign_add(1)
            return reduced

        self._iteration = iteration
        return iteration

    def _guarded_variables(self):
        """Everything an iteration changes except the step: the weights of G, D and the EMA
        generator, both optimizers' state (slots and update counters) and any historical
        averages."""
        histories = [history for history in (getattr(self.gan_step, "g_history", None),
                                             getattr(self.gan_step, "d_history", None))
                     if history is not None]
        variables, seen = [], set()
        for variable in (self.generator.weights + self.discriminator.weights
                         + self.ema_generator.weights + self.g_optimizer.variables
                         + self.d_optimizer.variables
                         + [v for history in histories for v in history.variables]):
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
        return variables

    def _set_progressive_batch(self, step):
        """Sets the step's global batch to the progressive schedule's batch of `step`; True if
        it changed (the iteration is then retraced and the data iterator re-created)."""
        if self.progressive is None:
            return False
        batch = self.progressive.batch_size(step)
        if batch == self.gan_step.config.global_batch_size:
            return False
        logging.info("Progressive growing: global batch %d from step %d.", batch, step)
        self.gan_step.config = dataclasses.replace(self.gan_step.config,
                                                   global_batch_size=batch)
        self._iteration = None
        return True

    # The loop -------------------------------------------------------------------------------

    def save(self):
        """Writes the checkpoint of the current step. A failed write (a full disk, a lost
        mount) raises CheckpointWriteError naming the directory and the checkpoint that is
        still intact; the partial files of the failed write are removed."""
        try:
            return self._save()
        except (OSError, tf.errors.OpError) as error:
            step = int(self.step.numpy())
            _remove_partial_checkpoint(self._checkpoint_dir, step)
            previous = tf.train.latest_checkpoint(self._checkpoint_dir)
            intact = (f"the previous checkpoint {previous} (step {_step_of(previous)}) is "
                      f"intact and a rerun resumes from it" if previous else
                      "there is no earlier checkpoint")
            raise CheckpointWriteError(
                f"Cannot write the checkpoint of step {step} to {self._checkpoint_dir}: "
                f"{_first_line(error)}. Training stopped; {intact}. Free space in (or fix) "
                f"that directory and rerun.") from error

    def _save(self):
        step = int(self.step.numpy())
        path = self.manager.save(checkpoint_number=step)
        self._saved_step = step
        self.cadence.saved()
        if not self.is_chief:
            shutil.rmtree(self._checkpoint_dir, ignore_errors=True)
            os.makedirs(self._checkpoint_dir, exist_ok=True)
            return None
        return path

    def save_if_needed(self):
        """Writes the checkpoint of the current step unless it is the last one written or
        restored; returns its path (None on workers other than the chief)."""
        step = int(self.step.numpy())
        if self._saved_step != step:
            return self.save()
        return os.path.join(self._checkpoint_dir, f"ckpt-{step}") if self.is_chief else None

    def train(self, steps=None, progress=True, max_seconds=None):
        """Trains until `steps` iterations in total (default `training.steps`).

        With `max_seconds`, training also stops at the first iteration boundary after that
        much wall time since the call (restore and tracing included), with a checkpoint; for
        runs of one process (every worker of a multi-worker run must stop at the same step,
        which only `steps` guarantees).

        SIGTERM or SIGINT ends the run after the current iteration: the checkpoint of that
        step is written and `preemption.Preempted` raised (see tfbiggan/training/preemption.py).

        Returns the last logged scalars.
        """
        cfg = self.config
        called = time.perf_counter()
        total = cfg.training.steps if steps is None else steps
        start = self.restore_or_initialize()
        if start >= total:
            logging.info("Nothing to do: the workdir is at step %d >= %d.", start, total)
            return {}
        self._set_progressive_batch(start)
        iterator = iter(self.dataset(start))
        iteration = self.iteration_fn()
        writer = monitoring.MetricsWriter(self.workdir, enabled=self.is_chief)
        bar = Progress(total, start, unit="step", description="Training",
                       enabled=progress and self.is_chief, log_every=1)
        last = {}
        skipping = cfg.training.get("nonfinite", "stop") == "skip"
        skipped_steps = _skipped_before(self.workdir, start) if skipping else 0
        guard = preemption.PreemptionGuard(self.strategy, self.save_if_needed,
                                           lambda: int(self.step.numpy()))
        with guard.scope():
            try:
                for current in range(start, total):
                    guard.at_boundary()  # Stops here (after saving) once a signal arrived.
                    if max_seconds is not None and time.perf_counter() - called >= max_seconds:
                        break
                    if self._set_progressive_batch(current):  # A new batch size: new shapes.
                        iterator, iteration = iter(self.dataset(current)), self.iteration_fn()
                    stats = {k: float(v) for k, v in guard.run(iteration, iterator).items()}
                    step = int(self.step.numpy())
                    bad = {k: v for k, v in stats.items() if not math.isfinite(v)}
                    if skipping:
                        skipped = stats.pop(SKIPPED) > 0
                        skipped_steps += int(skipped)
                        stats["skipped_steps"] = float(skipped_steps)
                        if skipped:
                            logging.warning(
                                "Non-finite values at step %d: %s. Skipped the iteration "
                                "(weights, EMA and optimizer state unchanged); %d step(s) "
                                "skipped so far.", step, bad or "non-finite weights",
                                skipped_steps)
                            # Recorded at once, so the count survives a resume.
                            writer.write(step, {k: v for k, v in stats.items()
                                                if math.isfinite(v)})
                            if self.cadence.due(step):
                                self.save()
                            continue
                    elif bad:
                        raise NonFiniteError(
                            f"Non-finite values at step {step}: {bad}. Training stopped; the "
                            f"last good checkpoint is {self.manager.latest_checkpoint}.")
                    last = stats
                    if step % cfg.log.every == 0 or step == total:
                        self._log(step, stats, writer, bar)
                    if self.cadence.due(step):
                        self.save()
                    # Every worker takes part: saving the best checkpoint is collective.
                    if not guard.stopping:
                        self.evaluation.maybe_evaluate(self, step, writer)
            finally:
                bar.close()
            if self._saved_step != int(self.step.numpy()):
                self.save()
        return last

    def _log(self, step, stats, writer, bar):
        cfg = self.config
        scalars = dict(stats)
        images = None
        if cfg.log.singular_values_every and step % cfg.log.singular_values_every == 0:
            scalars.update(monitoring.singular_value_report(self.generator, "G"))
            scalars.update(monitoring.singular_value_report(self.discriminator, "D"))
        if cfg.log.sample_every and step % cfg.log.sample_every == 0:
            images = {"ema_samples": self.sample_grid()}
        writer.write(step, scalars, images)
        bar.update(step, {k: stats[k] for k in ("d_loss", "g_loss")})

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


SKIPPED = "skipped"


def _set_fields(section):
    """The fields of a config section that are set (typed placeholders left None are not)."""
    return {key: value for key, value in section.items() if value is not None}


def _restore_if_nonfinite(stats, variables, saved):
    """Puts `saved` back into `variables` unless every stat and every variable is finite;
    returns 1.0 if it did (the iteration was skipped), else 0.0."""
    checks = [tf.reduce_all(tf.math.is_finite(value)) for value in stats.values()]
    checks += [tf.reduce_all(tf.math.is_finite(v)) for v in variables
               if tf.as_dtype(v.dtype).is_floating]
    finite = tf.reduce_all(tf.stack(checks))

    def restore():
        for variable, value in zip(variables, saved):
            variable.assign(value)
        return tf.constant(1.0)

    return tf.cond(finite, lambda: tf.constant(0.0), restore)


def _skipped_before(workdir, start):
    """The `skipped_steps` count of the last metrics record at or before step `start`."""
    path = os.path.join(workdir, wd.METRICS_FILE)
    count = 0
    if start and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:  # A line cut short by a killed run.
                    continue
                if record.get("step", math.inf) <= start and "skipped_steps" in record:
                    count = int(record["skipped_steps"])
    return count


def _step_of(path):
    return int(path.rsplit("-", 1)[-1])


def _first_line(error):
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _remove_partial_checkpoint(directory, step):
    """Deletes the files of a checkpoint whose write failed (not listed in the state file)."""
    state = tf.train.get_checkpoint_state(directory)
    listed = set(state.all_model_checkpoint_paths) if state else set()
    prefix = os.path.join(directory, f"ckpt-{step}")
    if prefix in listed:
        return
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        if name.startswith(f"ckpt-{step}.") or name.startswith(f"ckpt-{step}_temp"):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass
