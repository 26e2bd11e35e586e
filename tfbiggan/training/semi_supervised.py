"""Semi-supervised K+1 GAN training (Salimans et al. 2016, arXiv 1606.03498, §5).

D outputs K class logits l (the "fake" logit fixed at 0), so p(real | x) = σ(logsumexp(l)) and
p(y | x, real) = softmax(l). D minimises, per update,

    (1/B)·Σ_real softplus(−lse(l)) + (1/B)·Σ_fake softplus(lse(l)) + w·(1/L)·Σ_labelled CE(l, y)

(`losses.semi_supervised_d_loss` and `semi_supervised_class_loss`); G is trained with feature
matching on D's penultimate features (`training.feature_matching = "replace"`).

Data: the training split of the bundled digits (`metrics.digits.digits_split`, the held-out
split is never seen), of which `labels_per_class` examples per class are labelled. Each D
update's real batch of `training.batch_size` holds `labeled_batch_size` labelled examples
after the unlabelled ones; labels of unlabelled examples are −1. At the end of training the
held-out accuracy of D as a classifier is written to metrics.jsonl (`test_accuracy`) and
logged; `python -m tfbiggan.training.semi_supervised --workdir=DIR` prints it.

The supervised-only baseline (`supervised_baseline`; `python -m
tfbiggan.training.semi_supervised --baseline --config=FILE`) trains the same discriminator with
the class cross-entropy on the labelled examples alone, for the same number of D updates: the
gap between the two accuracies is what the unlabelled data and the generator add.
"""

import importlib.util
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import losses as gan_losses
from tfbiggan.metrics import digits as digits_metrics
from tfbiggan.training import monitoring
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training.step import _D_STREAM, GANStep


def labelled_subset(labels, per_class, seed=0):
    """Indices of `per_class` examples of every class of `labels` (sorted, seeded choice)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        candidates = np.flatnonzero(labels == label)
        if len(candidates) < per_class:
            raise ValueError(f"`labels_per_class` {per_class} exceeds the {len(candidates)} "
                             f"examples of class {label}.")
        chosen.append(rng.choice(candidates, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _rgb(images):
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def digits_data(resolution, per_class, seed):
    """(unlabelled train images, labelled images, their labels, test images, test labels)."""
    train_x, train_y, test_x, test_y = digits_metrics.digits_split(resolution)
    index = labelled_subset(train_y, per_class, seed)
    return _rgb(train_x), _rgb(train_x[index]), train_y[index], _rgb(test_x), test_y


def classifier_accuracy(discriminator, images, labels, batch_size=64):
    """Accuracy of the argmax of D's class logits on (images, labels).

    D's minibatch standard deviation needs full groups, so the last batch is padded with the
    first images and their predictions are dropped."""
    count = len(labels)
    padded = -(-count // batch_size) * batch_size
    images = np.concatenate([images, images[:padded - count]])
    predictions = [np.argmax(np.asarray(discriminator(
        images[start:start + batch_size], None, training=False)), -1)
        for start in range(0, padded, batch_size)]
    return float(np.mean(np.concatenate(predictions)[:count] == labels))


class SemiSupervisedStep(GANStep):
    """`GANStep` with the K+1 discriminator loss; G's loss follows `feature_matching`.

    Args: those of GANStep, and
      labeled_batch_size: labelled examples per D update (global, per accumulation sub-step).
      class_weight: weight w of the supervised cross-entropy.
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, config,
                 labeled_batch_size, class_weight=1.0):
        super().__init__(generator, discriminator, g_optimizer, d_optimizer, config)
        self.labeled_batch_size = labeled_batch_size
        self.class_weight = class_weight

    def _latents(self, step, stream, index, sub_step, batch):
        if self.generator.num_classes:
            return super()._latents(step, stream, index, sub_step, batch)
        # An unconditional G: the same z draw, class ids 0 (ignored).
        seed = tf.stack([tf.cast(self.config.seed, tf.int64) * 1_000_003 + tf.cast(step, tf.int64),
                         tf.constant(stream * 10_000 + index, tf.int64)])
        start, effective = self._draw_slice(sub_step, batch)
        z = tf.random.stateless_normal([effective, self.generator.dim_z], seed=seed)
        return z[start:start + batch], tf.zeros([batch], tf.int32)

    def _d_gradients(self, real, real_labels, step, index, sub_step):
        batch = real.shape[0]
        z, y = self._latents(step, _D_STREAM, index, sub_step, batch)
        fake = tf.cast(tf.stop_gradient(self.generator(z, y, training=True)), real.dtype)
        variables = self.discriminator.trainable_variables
        labelled = real_labels >= 0
        with tf.GradientTape() as tape:
            logits = self.discriminator(tf.concat([real, fake], 0), None, training=True)
            real_logits, fake_logits = logits[:batch], logits[batch:]
            real_part, fake_part = gan_losses.semi_supervised_d_loss(real_logits, fake_logits)
            unsupervised = tf.reduce_sum(real_part + fake_part) * self._scale()
            cross_entropy = gan_losses.semi_supervised_class_loss(
                real_logits, tf.maximum(real_labels, 0))
            class_loss = tf.reduce_sum(tf.where(labelled, cross_entropy, 0.0)) / float(
                self.labeled_batch_size * self.config.accumulation_steps)
            loss = unsupervised + self.class_weight * class_loss
        grads = tape.gradient(loss, variables)
        correct = tf.cast(tf.equal(tf.argmax(real_logits, -1, output_type=tf.int32),
                                   real_labels), tf.float32)
        stats = {"d_loss": loss, "d_class_loss": class_loss,
                 "d_real": tf.reduce_sum(tf.reduce_logsumexp(real_logits, -1)) * self._scale(),
                 "d_fake": tf.reduce_sum(tf.reduce_logsumexp(fake_logits, -1)) * self._scale(),
                 "labelled_accuracy": tf.reduce_sum(correct) / float(
                     self.labeled_batch_size * self.config.accumulation_steps)}
        return grads, stats


class SemiSupervisedTrainer(trainer_lib.Trainer):
    """The Trainer with `SemiSupervisedStep`, the labelled/unlabelled digits data and the
    held-out classifier accuracy at the end (`training.mode = "semi_supervised"`)."""

    def __init__(self, config, workdir, strategy=None):
        super().__init__(config, workdir, strategy)
        semi = config.semi_supervised
        replicas = self.strategy.num_replicas_in_sync
        if semi.labeled_batch_size % replicas:
            raise ValueError(f"`semi_supervised.labeled_batch_size` {semi.labeled_batch_size} "
                             f"is not divisible by the {replicas} replicas.")
        if self.progressive is None:  # No growth: the models work at full resolution.
            for model in (self.generator, self.discriminator, self.ema_generator):
                model.set_stage(model.num_stages - 1)
        old = self.gan_step
        self.gan_step = SemiSupervisedStep(
            self.generator, self.discriminator, self.g_optimizer, self.d_optimizer, old.config,
            semi.labeled_batch_size, semi.class_weight)
        self.gan_step.g_history, self.gan_step.d_history = old.g_history, old.d_history
        (self.unlabelled, self.labelled, self.labelled_labels, self.test_images,
         self.test_labels) = digits_data(self.generator.resolution, semi.labels_per_class,
                                         semi.label_seed)

    def dataset(self, start_step):
        """Per iteration, per D update and sub-step: unlabelled then labelled examples."""
        cfg = self.config
        semi = cfg.semi_supervised
        chunks = cfg.training.num_d_steps * cfg.training.accumulation_steps
        seed = cfg.seed

        def dataset_fn(input_context):
            replicas = input_context.num_replicas_in_sync
            labelled = semi.labeled_batch_size // replicas
            unlabelled = cfg.training.batch_size // replicas - labelled

            def stream(images, labels, batch, salt):
                data = tf.data.Dataset.from_tensor_slices((images, labels))
                data = data.shard(input_context.num_input_pipelines,
                                  input_context.input_pipeline_id)
                return data.shuffle(len(labels), seed=seed + salt).repeat().batch(
                    batch, drop_remainder=True)

            unl = stream(self.unlabelled, np.full(len(self.unlabelled), -1, np.int32),
                         unlabelled, 0)
            lab = stream(self.labelled, self.labelled_labels.astype(np.int32), labelled, 1)
            data = tf.data.Dataset.zip((unl, lab)).map(
                lambda u, l: (tf.concat([u[0], l[0]], 0), tf.concat([u[1], l[1]], 0)))
            data = data.batch(chunks, drop_remainder=True).map(
                lambda x, y: (tf.reshape(x, [-1, *x.shape[2:]]), tf.reshape(y, [-1])))
            return data.skip(start_step).prefetch(2)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def test_accuracy(self, batch_size=64):
        """Held-out accuracy of D's argmax class (the discriminator as a classifier)."""
        return classifier_accuracy(self.discriminator, self.test_images, self.test_labels,
                                   batch_size)

    def train(self, steps=None, progress=True):
        last = super().train(steps=steps, progress=progress)
        accuracy = self.test_accuracy()
        logging.info("Held-out accuracy of D as a classifier (%d labels): %.4f",
                     len(self.labelled_labels), accuracy)
        writer = monitoring.MetricsWriter(self.workdir, enabled=self.is_chief)
        writer.write(int(self.step.numpy()), {"test_accuracy": accuracy,
                                              "num_labels": float(len(self.labelled_labels))})
        last["test_accuracy"] = accuracy
        return last


def supervised_baseline(config, steps=None):
    """The supervised-only baseline of a semi-supervised config.

    The discriminator of `config.model` (same preset, overrides and seed), trained with the
    class cross-entropy (`losses.semi_supervised_class_loss`) on batches of
    `semi_supervised.labeled_batch_size` examples of the same labelled subset, with D's Adam
    settings, for the same number of D updates (`training.steps` × `training.num_d_steps`):
    no generator and no unlabelled data.

    Args:
      config: a semi-supervised experiment config (e.g. configs/semisupervised_digits.py).
      steps: training steps (default `training.steps`); D updates = steps × num_d_steps.

    Returns:
      Dict with test_accuracy (held-out digits), train_accuracy (the labelled examples),
      num_labels, updates and seconds.

    Example:
      >>> supervised_baseline(semisupervised_digits.get_config())["test_accuracy"]
    """
    t, semi = config.training, config.semi_supervised
    updates = int(steps if steps is not None else t.steps) * int(t.num_d_steps)
    if updates < 1:
        raise ValueError(f"the baseline needs at least one update, got steps={steps!r} and "
                         f"num_d_steps={t.num_d_steps!r}.")
    keras.utils.set_random_seed(config.seed)
    _, discriminator = trainer_lib.build_models(config.model)
    resolution = discriminator.resolution
    discriminator(np.zeros((semi.labeled_batch_size, resolution, resolution, 3), np.float32),
                  None)
    if hasattr(discriminator, "set_stage"):  # Progressive models: the full-resolution stage.
        discriminator.set_stage(discriminator.num_stages - 1)
    _, images, labels, test_images, test_labels = digits_data(
        resolution, semi.labels_per_class, semi.label_seed)
    optimizer = keras.optimizers.Adam(t.d_lr, beta_1=t.beta1, beta_2=t.beta2,
                                      epsilon=t.adam_eps)
    variables = discriminator.trainable_variables
    optimizer.build(variables)
    data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    data = data.shuffle(len(labels), seed=config.seed + 1).repeat().batch(
        semi.labeled_batch_size, drop_remainder=True)

    @tf.function
    def update(x, y):
        with tf.GradientTape() as tape:
            logits = discriminator(x, None, training=True)
            loss = tf.reduce_mean(gan_losses.semi_supervised_class_loss(logits, y))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    start = time.perf_counter()
    for index, (x, y) in enumerate(data.take(updates)):
        loss = update(x, y)
        if (index + 1) % 500 == 0 or index + 1 == updates:
            logging.info("Supervised baseline: update %d / %d, class loss %.4f.", index + 1,
                         updates, float(loss))
    results = {"test_accuracy": classifier_accuracy(discriminator, test_images, test_labels),
               "train_accuracy": classifier_accuracy(discriminator, images, labels),
               "num_labels": float(len(labels)), "updates": float(updates),
               "seconds": time.perf_counter() - start}
    logging.info("Supervised-only baseline (%d labels, %d updates): held-out accuracy %.4f.",
                 len(labels), updates, results["test_accuracy"])
    return results


def _load_config(path):
    spec = importlib.util.spec_from_file_location("tfbiggan_baseline_config", path)
    if spec is None or not os.path.isfile(path):
        raise ValueError(f"--config must name a config file (Python with get_config()), got "
                         f"{path!r}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def read_test_accuracy(workdir):
    """The last `test_accuracy` record of WORKDIR/metrics.jsonl as (step, accuracy)."""
    found = None
    with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "test_accuracy" in record:
                found = (record["step"], record["test_accuracy"])
    if found is None:
        raise ValueError(f"no `test_accuracy` record in {workdir}/metrics.jsonl; train with "
                         f"training.mode='semi_supervised' first.")
    return found


_USAGE = ("usage: python -m tfbiggan.training.semi_supervised --workdir=DIR\n"
          "       python -m tfbiggan.training.semi_supervised --baseline --config=FILE "
          "[--steps=N] [--seed=N]")


def main(argv):
    """Prints the test accuracy of a run (--workdir=DIR), or trains and prints the
    supervised-only baseline of a config (--baseline --config=FILE [--steps=N] [--seed=N],
    the seed replacing `config.seed`)."""
    args = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in argv[1:]
                if a.startswith("--"))
    if len(args) != len(argv) - 1 or not set(args) <= {"workdir", "baseline", "config",
                                                        "steps", "seed"}:
        print(_USAGE, file=sys.stderr)
        return 2
    if "baseline" in args:
        if "config" not in args or "workdir" in args:
            print(_USAGE, file=sys.stderr)
            return 2
        for name in ("steps", "seed"):
            if name in args and not args[name].isdigit():
                print(f"--{name} must be a non-negative integer, got {args[name]!r}.",
                      file=sys.stderr)
                return 2
        config = _load_config(args["config"])
        if "seed" in args:
            config.seed = int(args["seed"])
        steps = args.get("steps")
        results = supervised_baseline(config, None if steps is None else int(steps))
        print(f"supervised-only baseline, {int(results['num_labels'])} labels, "
              f"{int(results['updates'])} updates: held-out test accuracy "
              f"{results['test_accuracy']:.4f} (labelled examples "
              f"{results['train_accuracy']:.4f}), {results['seconds']:.0f} s")
        return 0
    if set(args) != {"workdir"}:  # --steps / --seed belong to --baseline.
        print(_USAGE, file=sys.stderr)
        return 2
    step, accuracy = read_test_accuracy(args["workdir"])
    print(f"step {step}: held-out test accuracy {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
