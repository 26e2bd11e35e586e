"""The training iteration, written once for a single replica.

One iteration = `num_d_steps` discriminator updates followed by one generator update, each on
a fresh draw of z and classes. Real and fake images go through D in one concatenated batch.
Every loss is a sum of per-example terms divided by the global (effective) batch size, so the
gradients that the strategy sums across replicas are those of the global mean. The trainer
wraps `replica_iteration` in `strategy.run`; nothing here depends on the strategy.

Latents are drawn from a stateless RNG once per update for its whole effective batch (global
batch × accumulation steps; seeded by the run seed, the step and the update) and each
accumulation sub-step and replica takes its slice, so a run is reproducible from the step
counter alone, gives the same numbers on one device or many, and k accumulated sub-batches
see the same examples as one batch k times larger.
"""

import dataclasses

import tensorflow as tf

from tfbiggan import augment as augment_lib
from tfbiggan import losses as gan_losses
from tfbiggan import regularizers

# Salts that keep the random streams of D steps, G steps, penalties and DiffAugment apart.
_D_STREAM, _G_STREAM, _GP_STREAM = 1, 2, 3
_AUGMENT_REAL, _AUGMENT_FAKE, _AUGMENT_G, _AUGMENT_MATCHING = 4, 5, 6, 7


@dataclasses.dataclass
class StepConfig:
    """Settings of one training iteration (see configs/ for their documented values)."""
    global_batch_size: int
    num_d_steps: int = 2
    accumulation_steps: int = 1
    loss: str = "hinge"
    loss_options: dict = dataclasses.field(default_factory=dict)
    gp_lambda: float = 0.0
    r1_gamma: float = 0.0
    ortho_beta: float = 0.0
    seed: int = 0
    # Improved Techniques (Salimans et al. 2016): G loss on D's penultimate features ("off",
    # "replace", "add") and historical-averaging weights of G and D (0: off).
    feature_matching: str = "off"
    historical_averaging_g: float = 0.0
    historical_averaging_d: float = 0.0
    # DiffAugment policy (Zhao et al. 2020; tfbiggan.augment): applied to every image D sees,
    # real and generated, in both updates. "" = none.
    augment: str = ""
    # Every update's real images and drawn classes in class order (each block of D's batch,
    # real and generated, sorted by label): with a discriminator whose minibatch-stddev groups
    # are contiguous (`mbstd_grouping="contiguous"`), a group then holds one kind and mostly
    # one class, so D sees within-class collapse. The losses do not depend on the order.
    sort_by_class: bool = False


class GANStep:
    """Holds the models, optimizers and settings; `replica_iteration` is the math."""

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, config):
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.config = config
        self.loss = gan_losses.get_gan_loss(config.loss, **dict(config.loss_options))
        shared = getattr(generator, "shared", None)
        excluded = {id(shared.kernel)} if shared is not None else set()
        # BigGAN's orthogonal regularisation: every ≥2-D generator kernel except the shared
        # class embedding (Brock et al. 2019, §3.1).
        self.ortho_kernels = [w for w in generator.trainable_weights
                              if len(w.shape) >= 2 and id(w) not in excluded]
        # Historical averaging: variables, so `build_history` runs under the strategy scope.
        self.g_history = self.d_history = None
        self.augment_policy = augment_lib.parse_policy(config.augment)

    def build_history(self):
        """Creates the historical averages of G / D parameters that the config asks for."""
        for attr, weight, model in (
                ("g_history", self.config.historical_averaging_g, self.generator),
                ("d_history", self.config.historical_averaging_d, self.discriminator)):
            if weight and getattr(self, attr) is None:
                history = regularizers.HistoricalAveraging(weight=weight, name=attr)
                history.build(model.trainable_variables)
                setattr(self, attr, history)

    def _per_replica_share(self):
        """1 / (replicas × accumulation steps): the share of a penalty that is not a sum over
        examples, since gradients are summed over replicas and accumulation sub-steps."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context else 1
        return 1.0 / float(replicas * self.config.accumulation_steps)

    # Sampling -------------------------------------------------------------------------------

    def _draw_slice(self, sub_step, batch):
        """(start, effective batch) of this replica's part of one draw over the effective batch.

        A draw covers global batch × accumulation steps examples; accumulation sub-step
        `sub_step` takes its `sub_step`-th global batch and each replica its slice of that, so
        k accumulated sub-batches see exactly the examples of one batch k times larger.
        """
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32) if context else 0
        global_batch = self.config.global_batch_size
        return (sub_step * global_batch + replica * batch,
                global_batch * self.config.accumulation_steps)

    def _latents(self, step, stream, index, sub_step, batch):
        """z [b, dim_z] and int class ids [b] for this replica's slice of the global draw."""
        seed = tf.stack([tf.cast(self.config.seed, tf.int64) * 1_000_003 + tf.cast(step, tf.int64),
                         tf.constant(stream * 10_000 + index, tf.int64)])
        start, effective = self._draw_slice(sub_step, batch)
        z = tf.random.stateless_normal([effective, self.generator.dim_z], seed=seed)
        y = tf.random.stateless_uniform([effective], seed=seed + [0, 7], minval=0,
                                        maxval=self.generator.num_classes, dtype=tf.int32)
        z, y = z[start:start + batch], y[start:start + batch]
        if self.config.sort_by_class:  # The same (z, class) pairs, in class order.
            order = tf.argsort(y, stable=True)
            z, y = tf.gather(z, order), tf.gather(y, order)
        return z, y

    def _augment(self, images, step, stream, index, sub_step):
        """DiffAugment of this replica's images, drawn like the latents: once per update over
        the effective batch (seeded by the run seed, the step and the stream), then sliced."""
        if not self.augment_policy:
            return images
        seed = tf.stack([tf.cast(self.config.seed, tf.int64) * 1_000_003 + tf.cast(step, tf.int64),
                         tf.constant(stream * 10_000 + index, tf.int64)])
        start, effective = self._draw_slice(sub_step, images.shape[0])
        return augment_lib.diff_augment(images, self.augment_policy, seed, start, effective)

    def _scale(self):
        return 1.0 / float(self.config.global_batch_size * self.config.accumulation_steps)

    # Discriminator --------------------------------------------------------------------------

    def _d_gradients(self, real, real_labels, step, index, sub_step):
        batch = tf.shape(real)[0] if real.shape[0] is None else real.shape[0]
        if self.config.sort_by_class:
            order = tf.argsort(real_labels, stable=True)
            real, real_labels = tf.gather(real, order), tf.gather(real_labels, order)
        z, y = self._latents(step, _D_STREAM, index, sub_step, batch)
        fake = tf.stop_gradient(self.generator(z, y, training=True))
        fake = tf.cast(fake, real.dtype)
        real = self._augment(real, step, _AUGMENT_REAL, index, sub_step)
        fake = self._augment(fake, step, _AUGMENT_FAKE, index, sub_step)
        variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.discriminator(tf.concat([real, fake], 0),
                                        tf.concat([real_labels, y], 0), training=True)
            real_logits, fake_logits = logits[:batch], logits[batch:]
            real_part, fake_part = self.loss.d_loss(real_logits, fake_logits)
            per_example = real_part + fake_part
            if self.config.gp_lambda:
                epsilon = self._penalty_epsilon(step, index, sub_step, batch)
                per_example += self.config.gp_lambda * gan_losses.gradient_penalty(
                    lambda x: self.discriminator(x, real_labels, training=True), real, fake,
                    epsilon)
            if self.config.r1_gamma:
                per_example += 0.5 * self.config.r1_gamma * gan_losses.r1_penalty(
                    lambda x: self.discriminator(x, real_labels, training=True), real)
            loss = tf.reduce_sum(per_example) * self._scale()
            total = loss
            if self.d_history is not None:
                total += self.d_history(variables) * self._per_replica_share()
        grads = tape.gradient(total, variables)
        stats = {"d_loss": loss, "d_real": tf.reduce_sum(real_logits) * self._scale(),
                 "d_fake": tf.reduce_sum(fake_logits) * self._scale()}
        return grads, stats

    def _penalty_seed(self, step, index):
        seed = tf.stack([tf.cast(step, tf.int64), tf.constant(_GP_STREAM * 10_000 + index,
                                                              tf.int64)])
        return seed, seed + [0, 1]

    def _penalty_epsilon(self, step, index, sub_step, batch):
        """This replica's interpolation weights ε of the gradient penalty, drawn like the
        latents: once per update over the effective batch, then sliced.

        Args:
          step: the iteration counter (int64 scalar tensor).
          index: the D update within the iteration.
          sub_step: the accumulation sub-step.
          batch: this replica's batch size.

        Returns:
          float32 ε in [0, 1), shape [batch].
        """
        _, eps_seed = self._penalty_seed(step, index)
        start, effective = self._draw_slice(sub_step, batch)
        epsilon = tf.random.stateless_uniform([effective], seed=eps_seed)
        return epsilon[start:start + batch]

    # Generator ------------------------------------------------------------------------------

    def _g_gradients(self, step, sub_step, batch, real=None, real_labels=None):
        z, y = self._latents(step, _G_STREAM, 0, sub_step, batch)
        variables = self.generator.trainable_variables
        matching = self.config.feature_matching
        with tf.GradientTape() as tape:
            fake = self._augment(self.generator(z, y, training=True), step, _AUGMENT_G, 0,
                                 sub_step)
            if matching == "off":
                logits = self.discriminator(fake, y, training=True)
            else:
                logits, fake_features = self.discriminator(fake, y, training=True,
                                                           return_features=True)
            loss = 0.0
            if matching != "replace":
                loss = tf.reduce_sum(self.loss.g_loss(logits)) * self._scale()
            if matching != "off":
                # Feature matching (Salimans et al. 2016, §3.1) on D's penultimate features;
                # a batch statistic, so each replica / sub-step adds its share.
                real = self._augment(real, step, _AUGMENT_MATCHING, 0, sub_step)
                _, real_features = self.discriminator(real, real_labels, training=True,
                                                      return_features=True)
                loss += gan_losses.feature_matching_loss(
                    tf.stop_gradient(real_features), fake_features) * self._per_replica_share()
            total = loss
            if self.g_history is not None:
                total += self.g_history(variables) * self._per_replica_share()
            if self.config.ortho_beta:
                context = tf.distribute.get_replica_context()
                replicas = context.num_replicas_in_sync if context else 1
                # Gradients are summed over replicas and accumulation steps, so each adds its
                # share of the penalty.
                total += regularizers.orthogonal_penalty(
                    self.ortho_kernels, self.config.ortho_beta) / float(
                        replicas * self.config.accumulation_steps)
        grads = tape.gradient(total, variables)
        return grads, {"g_loss": loss}

    # The iteration ---------------------------------------------------------------------------

    def replica_iteration(self, real_images, real_labels, step):
        """Runs one iteration on this replica's data.

        Args:
          real_images: [num_d_steps · accumulation_steps · b, R, R, C] real images.
          real_labels: int32 [num_d_steps · accumulation_steps · b].
          step: the iteration counter (int64 scalar tensor).

        Returns:
          A dict of scalars, each this replica's share of a global mean (sum them across
          replicas), plus gradient norms (average them).
        """
        cfg = self.config
        per_step = real_images.shape[0] // (cfg.num_d_steps * cfg.accumulation_steps)
        stats = {}
        d_vars = self.discriminator.trainable_variables
        for d_index in range(cfg.num_d_steps):
            total = None
            for acc in range(cfg.accumulation_steps):
                start = (d_index * cfg.accumulation_steps + acc) * per_step
                grads, d_stats = self._d_gradients(
                    real_images[start:start + per_step], real_labels[start:start + per_step],
                    step, d_index, acc)
                total = _add_gradients(total, grads)
                for key, value in d_stats.items():
                    stats[key] = stats.get(key, 0.0) + value / cfg.num_d_steps
            self.d_optimizer.apply_gradients(zip(total, d_vars))
            if self.d_history is not None:
                self.d_history.update(d_vars)
        stats["d_grad_norm"] = tf.linalg.global_norm(total)
        g_vars = self.generator.trainable_variables
        total = None
        for acc in range(cfg.accumulation_steps):
            real = {}
            if cfg.feature_matching != "off":  # The last D update's real images of sub-step acc.
                start = ((cfg.num_d_steps - 1) * cfg.accumulation_steps + acc) * per_step
                real = {"real": real_images[start:start + per_step],
                        "real_labels": real_labels[start:start + per_step]}
            grads, g_stats = self._g_gradients(step, acc, per_step, **real)
            total = _add_gradients(total, grads)
            stats["g_loss"] = stats.get("g_loss", 0.0) + g_stats["g_loss"]
        self.g_optimizer.apply_gradients(zip(total, g_vars))
        if self.g_history is not None:
            self.g_history.update(g_vars)
        stats["g_grad_norm"] = tf.linalg.global_norm(total)
        return stats


def _add_gradients(total, grads):
    """Sums gradient lists of accumulation sub-steps; sparse gradients (IndexedSlices, e.g.
    from embedding lookups) are made dense first, None (unused variable) stays None."""
    if total is None:
        return list(grads)
    return [b if a is None else a if b is None else
            tf.convert_to_tensor(a) + tf.convert_to_tensor(b) for a, b in zip(total, grads)]


MEAN_STATS = ("d_grad_norm", "g_grad_norm")
