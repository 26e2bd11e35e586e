"""`tfbiggan.GAN`: a Keras model that trains a generator and a discriminator with `fit()`.

Its `train_step` is the training iteration of the command-line trainer: `GANStep.
replica_iteration` (tfbiggan/training/step.py: `num_d_steps` D updates and one G update on
fresh latents keyed by the step counter, losses averaged over the global batch), followed by
the EMA update of `tfbiggan.training.ema` and the step increment. Keras runs `train_step` once
per replica under a distribution strategy; the reported figures are reduced across replicas
the way the trainer reduces them (shares of a global mean summed, gradient norms averaged), so
one device and two replicas reach the same weights and report the same losses and D outputs
(gradient norms are, as in the trainer, those of each replica's share of the gradient).

Data: every element of the dataset is one iteration's real images and integer class ids,
`num_d_steps × accumulation_steps × B` of them, B the global batch of one update; D update u
takes examples u, u + U, u + 2U, … (U = num_d_steps × accumulation_steps). With this layout
every update sees the same examples on one device and on any number of replicas, because
Keras hands each replica a contiguous part of the batch. Batches must have a static size
(`dataset.batch(..., drop_remainder=True)`).

Everything a run needs to resume (G, D, the EMA generator, both optimizers, the step counter)
is in the model's weights, so `BackupAndRestore`, `ModelCheckpoint` and `model.save` keep it.
"""

import dataclasses
import numbers

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan.training import ema
from tfbiggan.training.step import MEAN_STATS, GANStep, StepConfig

# What `train_step` reports, as running means over the epoch (Keras's convention).
STATS = ("d_loss", "d_real", "d_fake", "g_loss", "d_grad_norm", "g_grad_norm")

# StepConfig fields that `compile` does not take as options: the global batch is read from
# the data; historical averages live in a tf.Module that Keras weight files do not hold.
_NOT_OPTIONS = ("global_batch_size", "historical_averaging_g", "historical_averaging_d")


def _step_options():
    return sorted(f.name for f in dataclasses.fields(StepConfig) if f.name not in _NOT_OPTIONS)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"`{name}` must be a {kind} integer, got {value!r}.")
    return int(value)


def _optimizer(name, value):
    if isinstance(value, str):
        value = keras.optimizers.get(value)
    if not isinstance(value, keras.optimizers.Optimizer):
        raise ValueError(f"`{name}` must be a keras.optimizers.Optimizer (or the name of one), "
                         f"got {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="tfbiggan")
class GAN(keras.Model):
    """A generator, a discriminator and the EMA generator, trained with `compile` + `fit`.

    Create it (and compile it) inside `strategy.scope()` to train under a distribution
    strategy. `gan((z, labels))` samples the EMA generator.

    Args:
      generator: `G(z, labels, training=...)` → images, with attributes `dim_z` and
        `num_classes`: a tfbiggan generator, or your own model built from tfbiggan layers.
      discriminator: `D(images, labels, training=...)` → logits [B] (and, for feature
        matching, `return_features=True` → (logits, features)).
      ema_generator: the exponential moving average of G; by default a copy of `generator`.
      **kwargs: `keras.Model` arguments (e.g. `name`).

    Example:
      >>> generator, discriminator = tfbiggan.models.from_preset("biggan_tiny_32",
      ...                                                        num_classes=10)
      >>> gan = tfbiggan.GAN(generator, discriminator)
      >>> gan.compile(g_optimizer=keras.optimizers.Adam(5e-5, beta_1=0.0, beta_2=0.999),
      ...             d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.999))
      >>> gan.fit(dataset, epochs=3, callbacks=[keras.callbacks.TensorBoard("logs")])

    The iteration is that of Brock et al. 2019 ("Large Scale GAN Training for High Fidelity
    Natural Image Synthesis", arXiv 1809.11096), as `tfbiggan.training.step` implements it.
    """

    def __init__(self, generator, discriminator, ema_generator=None, **kwargs):
        super().__init__(**kwargs)
        for attribute in ("dim_z", "num_classes"):
            if not isinstance(getattr(generator, attribute, None), numbers.Integral):
                raise ValueError(f"`generator` must have an integer `{attribute}` attribute "
                                 f"(the latent size and the number of classes), got "
                                 f"{getattr(generator, attribute, None)!r} on {generator!r}.")
        self.generator = generator
        self.discriminator = discriminator
        # One inference pass builds whatever the models build lazily (Keras would otherwise
        # try to build the GAN symbolically in `fit`).
        if any(not layer.built for model in (generator, discriminator)
               for layer in model._flatten_layers()):  # pylint: disable=protected-access
            z = np.zeros((2, generator.dim_z), np.float32)
            labels = np.zeros((2,), np.int32)
            discriminator(generator(z, labels, training=False), labels, training=False)
        if ema_generator is None:
            ema_generator = ema.make_ema_generator(generator)
        self.ema_generator = ema_generator
        self._ema_pairs = ema.averaged_pairs(generator, self.ema_generator)
        self.ema_generator.trainable = False  # Averaged, never trained by gradients.
        # The iteration counter: it keys the latent draws and the EMA start.
        self.step = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                    trainable=False, name="step")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in STATS}
        self.gan_step = None
        self.g_optimizer = self.d_optimizer = None
        self._compile_options = None
        self.built = True

    def call(self, inputs, training=False):
        """EMA-generator images for `inputs = (z, labels)`."""
        z, labels = inputs
        return self.ema_generator(z, labels, training=training)

    # compile ---------------------------------------------------------------------------------

    def compile(self, g_optimizer, d_optimizer, loss="hinge", num_d_steps=2, ema_decay=0.9999,
                ema_start=20_000, ortho_beta=1e-4, seed=0, jit_compile=None,
                steps_per_execution=1, run_eagerly=False, **step_options):
        """Sets the optimizers and the iteration's settings (defaults: the paper's recipe).

        Args:
          g_optimizer: the generator's optimizer (BigGAN: Adam(5e-5, beta_1=0, beta_2=0.999)).
          d_optimizer: the discriminator's optimizer (BigGAN: Adam(2e-4, ...)); another object
            than `g_optimizer`.
          loss: a name from `tfbiggan.losses.list_gan_losses()`; options in `loss_options`.
          num_d_steps: D updates per iteration (each on its own part of the batch).
          ema_decay: decay d of the EMA generator, in [0, 1).
          ema_start: step from which the EMA averages; before it, it copies G.
          ortho_beta: β of BigGAN's orthogonal regularisation of G (0: off).
          seed: seed of the latent draws (with the step counter).
          jit_compile: compile the iteration with XLA; None: on with GPUs, off on CPUs and
            under MirroredStrategy (as in the trainer).
          steps_per_execution, run_eagerly: as in `keras.Model.compile`.
          **step_options: other fields of `tfbiggan.training.step.StepConfig`, e.g.
            `accumulation_steps`, `loss_options={"real_label": 0.9}`, `gp_lambda`, `r1_gamma`,
            `feature_matching`.

        Example:
          >>> gan.compile(g_optimizer=keras.optimizers.Adam(5e-5, 0.0, 0.999),
          ...             d_optimizer=keras.optimizers.Adam(2e-4, 0.0, 0.999),
          ...             loss="hinge", num_d_steps=2, ema_decay=0.999, ema_start=1000)
        """
        g_optimizer = _optimizer("g_optimizer", g_optimizer)
        d_optimizer = _optimizer("d_optimizer", d_optimizer)
        if g_optimizer is d_optimizer:
            raise ValueError("`g_optimizer` and `d_optimizer` must be two optimizer objects "
                             "(each holds the state of its own model's variables), got the "
                             "same object twice.")
        unknown = sorted(set(step_options) - set(_step_options()))
        if unknown:
            extra = [n for n in unknown if n in _NOT_OPTIONS]
            hint = (f" ({extra} cannot be set here: the global batch comes from the data, and "
                    f"historical averaging is available through the Trainer)" if extra else "")
            raise ValueError(f"Unknown GAN.compile option(s) {unknown}{hint}; accepted: "
                             f"{_step_options()}.")
        if (isinstance(ema_decay, bool) or not isinstance(ema_decay, numbers.Real)
                or not 0.0 <= ema_decay < 1.0):
            raise ValueError(f"`ema_decay` must be a number in [0, 1), got {ema_decay!r}.")
        ema_start = _check_int("ema_start", ema_start, 0)
        options = dict(step_options, loss=loss, ortho_beta=ortho_beta, seed=seed,
                       num_d_steps=_check_int("num_d_steps", num_d_steps, 1))
        config = StepConfig(global_batch_size=1, **options)  # The batch is set by the data.
        _check_int("accumulation_steps", config.accumulation_steps, 1)
        # Builds the loss (checking its name and options) before anything is changed.
        gan_step = GANStep(self.generator, self.discriminator, g_optimizer, d_optimizer, config)
        strategy = self.distribute_strategy
        mirrored = isinstance(strategy, (tf.distribute.MirroredStrategy,
                                         tf.distribute.MultiWorkerMirroredStrategy))
        if jit_compile is None:  # As in the trainer: XLA with GPUs, not on CPUs.
            jit_compile = bool(tf.config.list_logical_devices("GPU")) and not mirrored
        elif jit_compile and mirrored:
            # Its cross-replica reductions cannot run inside an XLA cluster here.
            logging.info("jit_compile is not used under %s.", type(strategy).__name__)
            jit_compile = False
        super().compile(optimizer=None, jit_compile=bool(jit_compile),
                        steps_per_execution=steps_per_execution, run_eagerly=run_eagerly)
        with strategy.scope():  # Keras 3 optimizers are built before `strategy.run`.
            for optimizer, model in ((g_optimizer, self.generator),
                                     (d_optimizer, self.discriminator)):
                if not optimizer.built:
                    optimizer.build(model.trainable_variables)
        self.g_optimizer, self.d_optimizer, self.gan_step = g_optimizer, d_optimizer, gan_step
        self.ema_decay, self.ema_start = float(ema_decay), ema_start
        self._compile_options = dict(options, ema_decay=self.ema_decay, ema_start=ema_start,
                                     jit_compile=bool(jit_compile),
                                     steps_per_execution=steps_per_execution,
                                     run_eagerly=run_eagerly)

    def get_compile_config(self):
        if self._compile_options is None:
            return None
        return dict(self._compile_options,
                    g_optimizer=keras.optimizers.serialize(self.g_optimizer),
                    d_optimizer=keras.optimizers.serialize(self.d_optimizer))

    def compile_from_config(self, config):
        config = dict(config)
        g_optimizer = keras.optimizers.deserialize(config.pop("g_optimizer"))
        d_optimizer = keras.optimizers.deserialize(config.pop("d_optimizer"))
        self.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, **config)

    # Training --------------------------------------------------------------------------------

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _iteration_batch(self, data):
        """(images, labels) of this replica, reordered so that GANStep's consecutive slices
        are the updates' examples u, u + U, …; sets the step's global batch size."""
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError(f"GAN.fit expects dataset elements (images, labels) with integer "
                             f"class ids, got {data!r}.")
        images, labels = data
        images = tf.convert_to_tensor(images)
        labels = tf.cast(labels, tf.int32)
        if labels.shape.rank != 1:
            raise ValueError(f"labels must be integer class ids of shape [batch], got shape "
                             f"{labels.shape}.")
        count = images.shape[0]
        if count is None:
            raise ValueError("GAN.fit needs batches of a static size: batch the dataset with "
                             "`drop_remainder=True`.")
        config = self.gan_step.config
        updates = config.num_d_steps * config.accumulation_steps
        if count % updates:
            raise ValueError(f"A replica's batch of {count} examples does not split into "
                             f"num_d_steps × accumulation_steps = {updates} equal updates; "
                             f"batch the dataset by a multiple of {updates} × replicas.")
        per_update = count // updates
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context else 1
        if config.global_batch_size != per_update * replicas:
            self.gan_step.config = dataclasses.replace(
                config, global_batch_size=per_update * replicas)

        def by_update(tensor):
            rest = tensor.shape[1:]
            grouped = tf.reshape(tensor, [per_update, updates, *rest])
            perm = [1, 0] + list(range(2, len(rest) + 2))
            return tf.reshape(tf.transpose(grouped, perm), [count, *rest])

        return by_update(images), by_update(labels)

    def _finish_iteration(self, strategy, stats):
        """In cross-replica context, as in the trainer: reduces the statistics, updates the
        EMA generator at the current step and advances the step."""
        reduced = {}
        for key, value in stats.items():
            op = tf.distribute.ReduceOp.MEAN if key in MEAN_STATS else tf.distribute.ReduceOp.SUM
            reduced[key] = strategy.reduce(op, value, axis=None)
        ema.update_ema(self._ema_pairs, self.step, self.ema_decay, self.ema_start)
        self.step.assign_add(1)
        return reduced

    def train_step(self, data):
        if self.gan_step is None:
            raise RuntimeError("Call GAN.compile(g_optimizer=..., d_optimizer=...) before fit.")
        images, labels = self._iteration_batch(data)
        stats = self.gan_step.replica_iteration(images, labels, tf.convert_to_tensor(self.step))
        # Every replica receives the global values, so the replicas' metric states agree and
        # their sum over replicas (what Keras reads at the end of an epoch) is exact.
        reduced = tf.distribute.get_replica_context().merge_call(
            self._finish_iteration, args=(stats,))
        logs = {}
        for key, value in reduced.items():
            if key in self.trackers:
                self.trackers[key].update_state(value)
                logs[key] = self.trackers[key].result()
            else:
                logs[key] = value
        return logs

    def test_step(self, data):
        raise NotImplementedError(
            "GAN has no evaluation step; score the EMA generator (`gan.ema_generator`) with "
            "tfbiggan.metrics or tfbiggan.evaluation instead of `evaluate`/`validation_data`.")

    # Serialisation ---------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(generator=keras.saving.serialize_keras_object(self.generator),
                      discriminator=keras.saving.serialize_keras_object(self.discriminator))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)
