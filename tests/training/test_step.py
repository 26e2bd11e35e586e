"""The training iteration (tfbiggan/training/step.py): update order, latents, the loss math,
gradient accumulation, one vs two replicas, and XLA compilation."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training import helpers
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training.step import GANStep, StepConfig


def _toy_step(strategy=None, lr=0.5, **config):
    """A GANStep on the toy models with SGD (linear in the gradients, so any error in the
    loss scale shows in the weights)."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        generator, discriminator = helpers.toy_models()
        g_optimizer = keras.optimizers.SGD(lr)
        d_optimizer = keras.optimizers.SGD(lr)
        g_optimizer.build(generator.trainable_variables)
        d_optimizer.build(discriminator.trainable_variables)
    return GANStep(generator, discriminator, g_optimizer, d_optimizer, StepConfig(**config))


def _run(strategy, gan_step, per_replica_images, per_replica_labels, step):
    """One iteration through `strategy.run` in a tf.function; returns the reduced stats."""
    iterator = helpers.distributed_iterator(strategy, per_replica_images, per_replica_labels)

    @tf.function
    def iteration(iterator):
        images, labels = next(iterator)
        stats = strategy.run(gan_step.replica_iteration,
                             args=(images, labels, tf.constant(step, tf.int64)))
        return {key: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in stats.items()}

    return {key: float(value) for key, value in iteration(iterator).items()}


def test_num_d_steps_d_updates_then_one_g_update_on_fresh_latents():
    num_d_steps, batch = 3, 4
    gan_step = _toy_step(global_batch_size=batch, num_d_steps=num_d_steps, seed=5)
    gan_step.generator.seen = []
    gan_step.discriminator.calls = 0
    images, labels = helpers.random_batch(num_d_steps * batch, 4, 3)
    gan_step.replica_iteration(tf.constant(images), tf.constant(labels),
                               tf.constant(11, tf.int64))  # Eager: G records its inputs.

    assert int(gan_step.d_optimizer.iterations.numpy()) == num_d_steps
    assert int(gan_step.g_optimizer.iterations.numpy()) == 1
    # One D call per D update (real and fake concatenated) plus one in the G update.
    assert gan_step.discriminator.calls == num_d_steps + 1
    seen = gan_step.generator.seen
    assert len(seen) == num_d_steps + 1  # One fake batch per D update, one for the G update.
    for z, y in seen:
        assert z.shape == (batch, 6) and y.shape == (batch,)
        assert y.min() >= 0 and y.max() < 3
    for i in range(len(seen)):
        for j in range(i + 1, len(seen)):
            assert np.abs(seen[i][0] - seen[j][0]).min() > 0, (i, j)  # No shared z row.

    # The latents are a function of (seed, step): the same step again gives the same draws, the
    # next step fresh ones.
    for step, same in ((11, True), (12, False)):
        gan_step.generator.seen = []
        gan_step.replica_iteration(tf.constant(images), tf.constant(labels),
                                   tf.constant(step, tf.int64))
        for (z_new, _), (z_old, _) in zip(gan_step.generator.seen, seen):
            assert np.array_equal(z_new, z_old) == same


def test_iteration_matches_a_direct_reference():
    """Sequential D updates (each seeing the previous one), then G against the updated D;
    every loss the mean over the batch; plain SGD written out by hand."""
    num_d_steps, batch, lr = 2, 4, 0.5
    gan_step = _toy_step(lr=lr, global_batch_size=batch, num_d_steps=num_d_steps, seed=2)
    generator, discriminator = helpers.toy_models()  # Same initial weights.
    gan_step.generator.seen = []
    images, labels = helpers.random_batch(num_d_steps * batch, 4, 3, seed=1)
    stats = gan_step.replica_iteration(tf.constant(images), tf.constant(labels),
                                       tf.constant(3, tf.int64))
    seen = gan_step.generator.seen

    d_losses = []
    for d in range(num_d_steps):
        z, y = seen[d]
        real, real_y = images[d * batch:(d + 1) * batch], labels[d * batch:(d + 1) * batch]
        fake = generator(z, y)
        with tf.GradientTape() as tape:
            loss = (tf.reduce_mean(tf.nn.relu(1.0 - discriminator(real, real_y)))
                    + tf.reduce_mean(tf.nn.relu(1.0 + discriminator(fake, y))))
        grads = tape.gradient(loss, discriminator.trainable_variables)
        for variable, grad in zip(discriminator.trainable_variables, grads):
            variable.assign_sub(lr * tf.convert_to_tensor(grad))
        d_losses.append(float(loss))
    z, y = seen[num_d_steps]
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(discriminator(generator(z, y), y))
    grads = tape.gradient(g_loss, generator.trainable_variables)
    for variable, grad in zip(generator.trainable_variables, grads):
        variable.assign_sub(lr * tf.convert_to_tensor(grad))

    helpers.assert_snapshots_close(helpers.snapshot(gan_step.discriminator),
                                   helpers.snapshot(discriminator), atol=1e-6, what="D")
    helpers.assert_snapshots_close(helpers.snapshot(gan_step.generator),
                                   helpers.snapshot(generator), atol=1e-6, what="G")
    np.testing.assert_allclose(float(stats["d_loss"]), np.mean(d_losses), rtol=1e-6)
    np.testing.assert_allclose(float(stats["g_loss"]), float(g_loss), rtol=1e-6)
    # The update moved the weights (the comparison is not between unchanged models).
    initial, _ = helpers.toy_models()
    assert max(np.abs(a - b).max() for (_, a), (_, b) in zip(
        helpers.snapshot(generator), helpers.snapshot(initial))) > 1e-3


def test_sort_by_class_orders_each_block_and_leaves_the_losses():
    """`sort_by_class`: the drawn classes of every update come sorted, D sees the real images
    in class order (a stable sort); with a per-example D the weights equal an unsorted run's."""
    num_d_steps, batch = 2, 8
    sorted_step = _toy_step(global_batch_size=batch, num_d_steps=num_d_steps, seed=3,
                            sort_by_class=True)
    plain_step = _toy_step(global_batch_size=batch, num_d_steps=num_d_steps, seed=3)
    images, labels = helpers.random_batch(num_d_steps * batch, 4, 3, seed=4)
    assert any(np.diff(labels[:batch]) < 0)  # The data's order is not already sorted.
    seen_by_d = []
    call = type(sorted_step.discriminator).call

    def recording(self, x, y, training=False):
        seen_by_d.append((np.asarray(x), np.asarray(y)))
        return call(self, x, y, training=training)

    for gan_step in (sorted_step, plain_step):
        gan_step.generator.seen = []
    type(sorted_step.discriminator).call = recording
    try:
        sorted_step.replica_iteration(tf.constant(images), tf.constant(labels),
                                      tf.constant(5, tf.int64))
    finally:
        type(sorted_step.discriminator).call = call
    plain_step.replica_iteration(tf.constant(images), tf.constant(labels),
                                 tf.constant(5, tf.int64))

    for (z_sorted, y_sorted), (z_plain, y_plain) in zip(sorted_step.generator.seen,
                                                        plain_step.generator.seen):
        order = np.argsort(y_plain, kind="stable")  # The same (z, class) pairs, reordered.
        np.testing.assert_array_equal(y_sorted, y_plain[order])
        np.testing.assert_array_equal(z_sorted, z_plain[order])
    for d in range(num_d_steps):  # D's batch: the real block sorted, then the fake block.
        x, y = seen_by_d[d]
        real, real_y = images[d * batch:(d + 1) * batch], labels[d * batch:(d + 1) * batch]
        order = np.argsort(real_y, kind="stable")
        np.testing.assert_array_equal(y[:batch], real_y[order])
        np.testing.assert_allclose(x[:batch], real[order])
        assert np.all(np.diff(y[batch:]) >= 0)
    helpers.assert_snapshots_close(helpers.snapshot(sorted_step.discriminator),
                                   helpers.snapshot(plain_step.discriminator), atol=1e-6,
                                   what="D")
    helpers.assert_snapshots_close(helpers.snapshot(sorted_step.generator),
                                   helpers.snapshot(plain_step.generator), atol=1e-6, what="G")


@pytest.mark.slow
@pytest.mark.parametrize("extra", [{}, dict(gp_lambda=0.5, ortho_beta=0.01),
                                   dict(augment="color,translation,cutout")],
                         ids=["hinge", "hinge_gp_ortho", "hinge_diffaugment"])
def test_gradient_accumulation_equals_one_full_batch(extra):
    """batch 8 × 1 step == batch 4 × 2 accumulated == batch 4 × 2 on two replicas (2 each);
    with DiffAugment, every slice gets the transforms of the whole batch."""
    num_d_steps, full = 2, 8
    images, labels = helpers.random_batch(num_d_steps * full, 4, 3, seed=4)
    results = []
    for strategy, global_batch, accumulation in (
            (tf.distribute.get_strategy(), full, 1),
            (tf.distribute.get_strategy(), full // 2, 2),
            (helpers.two_replica_strategy(), full // 2, 2)):
        replicas = strategy.num_replicas_in_sync
        gan_step = _toy_step(strategy, global_batch_size=global_batch, num_d_steps=num_d_steps,
                             accumulation_steps=accumulation, seed=9, **extra)
        per_images, per_labels = helpers.arrange(images, labels, num_d_steps, accumulation,
                                                 global_batch, replicas)
        stats = _run(strategy, gan_step, per_images, per_labels, step=4)
        results.append((stats, helpers.snapshot(gan_step.generator),
                        helpers.snapshot(gan_step.discriminator)))
    (stats, g_ref, d_ref), others = results[0], results[1:]
    for index, (other_stats, g_weights, d_weights) in enumerate(others):
        what = f"variant {index + 1}"
        helpers.assert_snapshots_close(g_weights, g_ref, atol=1e-6, what=what + " G")
        helpers.assert_snapshots_close(d_weights, d_ref, atol=1e-6, what=what + " D")
        for key in ("d_loss", "d_real", "d_fake", "g_loss"):
            np.testing.assert_allclose(other_stats[key], stats[key], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{what} {key}")


def _trainer(strategy=None, **training):
    return trainer_lib.Trainer(helpers.tiny_config(**training), "/nonexistent-unused",
                               strategy)


@pytest.mark.slow
def test_two_replicas_give_the_weights_of_one():
    """One iteration of the real trainer (tiny BigGAN, synchronised G batch norm, DiffAugment,
    Adam, EMA) on one device and on two replicas, fed the same global batches."""
    settings = dict(num_d_steps=2, ema_start=0, ema_decay=0.9, augment="translation,cutout",
                    adam_eps=helpers.COMPARISON_ADAM_EPS)
    single = _trainer(**settings)
    strategy = helpers.two_replica_strategy()
    double = _trainer(strategy, **settings)
    assert double.generator.synchronized_bn and not single.generator.synchronized_bn
    for name in ("generator", "discriminator", "ema_generator"):
        getattr(double, name).set_weights(getattr(single, name).get_weights())
    before = helpers.snapshot(single.generator)

    batch = single.config.training.batch_size
    images, labels = helpers.random_batch(2 * batch, 32, 10, seed=3)
    results = []
    for trainer in (single, double):
        replicas = trainer.strategy.num_replicas_in_sync
        per_images, per_labels = helpers.arrange(images, labels, 2, 1, batch, replicas)
        iterator = helpers.distributed_iterator(trainer.strategy, per_images, per_labels)
        stats = {k: float(v) for k, v in trainer.iteration_fn()(iterator).items()}
        results.append((stats, [helpers.snapshot(m) for m in (
            trainer.generator, trainer.discriminator, trainer.ema_generator)]))

    (stats_1, models_1), (stats_2, models_2) = results
    for name, a, b in zip(("G", "D", "EMA"), models_2, models_1):
        helpers.assert_snapshots_close(a, b, atol=1e-5, rtol=1e-5, what=name)
    # Losses are global means on both (gradient norms are per-replica values, not compared).
    for key in ("d_loss", "d_real", "d_fake", "g_loss"):
        np.testing.assert_allclose(stats_2[key], stats_1[key], rtol=1e-5, err_msg=key)
    # Both replicas hold the same values of every variable.
    for model in (double.generator, double.discriminator, double.ema_generator):
        for weight in model.weights:
            first, second = helpers.replica_copies(weight)
            np.testing.assert_array_equal(first, second, err_msg=weight.path)
    # The iteration changed G's weights and batch-norm statistics.
    changed = {path for (path, a), (_, b) in zip(models_1[0], before)
               if np.abs(a - b).max() > 1e-6}
    assert any(p.endswith("moving_mean") for p in changed)
    assert any(p.endswith("conv1/kernel") for p in changed)


def _xla_calls(concrete_function):
    """Call ops in a traced graph (and its nested functions) marked `_XlaMustCompile`."""
    found = []
    graphs = [concrete_function.graph]
    graphs += [f.graph for f in concrete_function.graph._functions.values()  # pylint: disable=protected-access
               if hasattr(f, "graph")]
    for graph in graphs:
        for op in graph.get_operations():
            try:
                if op.get_attr("_XlaMustCompile"):
                    found.append(op.name)
            except ValueError:
                pass
    return found


def _patch_latents(gan_step):
    """Replaces the random latents by a fixed function of (step, stream, update).

    TensorFlow's stateless RNG kernels and XLA's produce different numbers on the CPU, so a
    jit-compiled iteration draws other latents than an op-by-op one; with these latents the
    two runs must agree up to rounding.
    """
    dim_z, num_classes = gan_step.generator.dim_z, gan_step.generator.num_classes

    def latents(step, stream, index, sub_step, batch):
        del sub_step  # One replica, no accumulation here.
        phase = tf.cast(step, tf.int32) * 7 + stream * 3 + index
        rows = tf.reshape(tf.range(batch * dim_z), [batch, dim_z])
        z = 1.5 * tf.sin(1.3 * tf.cast(rows, tf.float32) + tf.cast(phase, tf.float32))
        y = tf.math.floormod(tf.range(batch) * 3 + phase, num_classes)
        return z, y

    gan_step._latents = latents  # pylint: disable=protected-access


@pytest.mark.slow
def test_iteration_compiles_with_xla():
    # DiffAugment's draws are XLA-exact (tfbiggan/augment.py), so it is compiled here too.
    settings = dict(num_d_steps=1, adam_eps=helpers.COMPARISON_ADAM_EPS,
                    augment="color,translation,cutout")
    reference = _trainer(jit_compile=False, **settings)
    compiled = _trainer(jit_compile=True, **settings)
    for name in ("generator", "discriminator", "ema_generator"):
        getattr(compiled, name).set_weights(getattr(reference, name).get_weights())
    initial = helpers.snapshot(reference.generator)
    images, labels = helpers.random_batch(2 * 4, 32, 10, seed=8)
    snapshots = []
    for trainer in (reference, compiled):
        _patch_latents(trainer.gan_step)
        iteration = trainer.iteration_fn()
        for offset in (0, 4):
            iterator = helpers.distributed_iterator(
                trainer.strategy, [images[offset:offset + 4]], [labels[offset:offset + 4]])
            stats = iteration(iterator)
        assert all(np.isfinite(float(v)) for v in stats.values())
        # The replica function is called through an op that XLA must compile (or fail).
        marked = _xla_calls(iteration.get_concrete_function(iterator))
        assert bool(marked) == (trainer is compiled), marked
        snapshots.append([helpers.snapshot(m) for m in (
            trainer.generator, trainer.discriminator, trainer.ema_generator)])
    assert int(compiled.step.numpy()) == 2
    assert max(np.abs(a - b).max() for (_, a), (_, b) in zip(snapshots[1][0], initial)) > 1e-4
    for name, a, b in zip(("G", "D", "EMA"), snapshots[1], snapshots[0]):
        helpers.assert_snapshots_close(a, b, atol=2e-5, rtol=1e-4, what=name)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
