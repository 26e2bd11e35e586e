"""tfbiggan.GAN (tfbiggan/gan.py): `fit` reaches the trainer's weights on one device and on
two replicas, Keras callbacks read its figures and keep its state, its models save and load,
and a run killed mid-epoch resumes with BackupAndRestore to the weights of an uninterrupted
run."""

import json
import os
import signal
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfbiggan
from tests import conftest
from tests.training import helpers
from tfbiggan.training import trainer as trainer_lib

STEPS = 2          # Iterations of the compared runs (one epoch).
NUM_D_STEPS = 2
RESOLUTION, NUM_CLASSES = 32, 10
# The EMA copies G at step 0 and averages from step 1.
SETTINGS = dict(num_d_steps=NUM_D_STEPS, ema_start=1, ema_decay=0.9)


def iteration_layout(images, updates, batch):
    """One iteration's examples in the trainer's order (update u: [u·B, (u + 1)·B)) laid out
    as GAN.fit reads them (update u: examples u, u + U, ...)."""
    return images.reshape(updates, batch, *images.shape[1:]).swapaxes(0, 1).reshape(
        updates * batch, *images.shape[1:])


def gan_dataset(images, labels, updates, batch):
    per_iteration = updates * batch
    steps = len(images) // per_iteration
    parts = [slice(s * per_iteration, (s + 1) * per_iteration) for s in range(steps)]
    x = np.concatenate([iteration_layout(images[p], updates, batch) for p in parts])
    y = np.concatenate([iteration_layout(labels[p], updates, batch) for p in parts])
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(per_iteration, drop_remainder=True)


def make_gan(config, initial):
    """A compiled GAN with the trainer's models, initial weights and settings."""
    t = config.training
    generator, discriminator = trainer_lib.build_models(config.model)
    generator.set_weights(initial[0])
    discriminator.set_weights(initial[1])
    gan = tfbiggan.GAN(generator, discriminator)
    adam = lambda lr: keras.optimizers.Adam(  # noqa: E731
        lr, beta_1=t.beta1, beta_2=t.beta2, epsilon=t.adam_eps)
    gan.compile(g_optimizer=adam(t.g_lr), d_optimizer=adam(t.d_lr), loss=t.loss,
                num_d_steps=t.num_d_steps, ema_decay=t.ema_decay, ema_start=t.ema_start,
                ortho_beta=t.ortho_beta, seed=config.seed)
    return gan


def models_snapshot(owner):
    return [helpers.snapshot(m) for m in (owner.generator, owner.discriminator,
                                          owner.ema_generator)]


def full_state(gan):
    """Every value a GAN run carries, as lists in a fixed order (G and its EMA copy have the
    same variable paths, so no dict by path)."""
    return {"generator": [w.numpy() for w in gan.generator.weights],
            "discriminator": [w.numpy() for w in gan.discriminator.weights],
            "ema_generator": [w.numpy() for w in gan.ema_generator.weights],
            "step": [gan.step.numpy()],
            "g_optimizer": [v.numpy() for v in gan.g_optimizer.variables],
            "d_optimizer": [v.numpy() for v in gan.d_optimizer.variables]}


def assert_same_state(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key, values in expected.items():
        assert len(actual[key]) == len(values), key
        for index, (a, e) in enumerate(zip(actual[key], values)):
            np.testing.assert_array_equal(a, e, err_msg=f"{key}[{index}]")


class BatchLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


@pytest.fixture(scope="module")
def reference():
    """STEPS iterations of the trainer (one device) on fixed batches."""
    config = helpers.tiny_config(**SETTINGS)
    trainer = trainer_lib.Trainer(config, "/nonexistent-unused")
    initial = (trainer.generator.get_weights(), trainer.discriminator.get_weights())
    batch = config.training.batch_size
    per_iteration = NUM_D_STEPS * batch
    images, labels = helpers.random_batch(STEPS * per_iteration, RESOLUTION, NUM_CLASSES, seed=3)
    iteration = trainer.iteration_fn()
    stats = []
    for step in range(STEPS):
        part = slice(step * per_iteration, (step + 1) * per_iteration)
        iterator = helpers.distributed_iterator(trainer.strategy, [images[part]],
                                                [labels[part]])
        stats.append({k: float(v) for k, v in iteration(iterator).items()})
    return types.SimpleNamespace(
        config=config, initial=initial, batch=batch,
        dataset=gan_dataset(images, labels, NUM_D_STEPS, batch), stats=stats,
        models=models_snapshot(trainer),
        optimizer_steps=(int(trainer.g_optimizer.iterations.numpy()),
                         int(trainer.d_optimizer.iterations.numpy())))


@pytest.fixture(scope="module")
def one_device(reference):
    """A GAN on the default strategy after one epoch of `fit` on the reference batches (later
    tests go on training it)."""
    gan = make_gan(reference.config, reference.initial)
    batch_logs = BatchLogs()
    history = gan.fit(reference.dataset, epochs=1, verbose=0, callbacks=[batch_logs])
    return types.SimpleNamespace(gan=gan, history=history.history, batch_logs=batch_logs.logs,
                                 models=models_snapshot(gan), step=int(gan.step.numpy()))


@pytest.mark.slow
def test_fit_gives_the_weights_and_figures_of_the_trainer(reference, one_device):
    for name, actual, expected in zip(("G", "D", "EMA G"), one_device.models, reference.models):
        helpers.assert_snapshots_close(actual, expected, atol=1e-6, what=name)
    gan = one_device.gan
    assert one_device.step == STEPS
    assert (int(gan.g_optimizer.iterations.numpy()), int(gan.d_optimizer.iterations.numpy())) == \
        reference.optimizer_steps == (STEPS, NUM_D_STEPS * STEPS)
    # The EMA started averaging: it no longer equals G.
    assert any(not np.allclose(e, g, atol=1e-6) for (_, e), (_, g) in
               zip(one_device.models[2], one_device.models[0]))
    # Epoch figures are the means over the epoch's iterations; the first batch's figures are
    # the trainer's first iteration.
    for key in tfbiggan.gan.STATS:
        expected = np.mean([stats[key] for stats in reference.stats])
        np.testing.assert_allclose(one_device.history[key], [expected], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(one_device.batch_logs[0][key], reference.stats[0][key],
                                   rtol=1e-6, err_msg=key)


def _toy_gan(strategy=None, **compile_kwargs):
    """A GAN of the toy models of tests/training/helpers.py (compiled if `compile_kwargs`)."""
    with (strategy or tf.distribute.get_strategy()).scope():
        generator, discriminator = helpers.toy_models(seed=0)
        ema_generator, _ = helpers.toy_models(seed=0)
        gan = tfbiggan.GAN(generator, discriminator, ema_generator=ema_generator)
        if compile_kwargs:
            gan.compile(g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.0, beta_2=0.99),
                        d_optimizer=keras.optimizers.Adam(4e-3, beta_1=0.0, beta_2=0.99),
                        **compile_kwargs)
    return gan


@pytest.mark.slow
def test_two_replicas_fit_to_the_weights_and_figures_of_one_device():
    """Toy models (no batch norm: the math is exact per example), two D updates of two
    accumulated sub-batches each, orthogonal regularisation (a penalty each replica adds a
    share of) and the EMA: every update must see the same examples and latents, gradients
    must be summed over the replicas and every figure reduced once."""
    updates, batch, steps = 4, 4, 3
    images, labels = helpers.random_batch(steps * updates * batch, 4, 3, seed=2)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(
        updates * batch, drop_remainder=True)
    runs = []
    for strategy in (tf.distribute.get_strategy(), helpers.two_replica_strategy()):
        gan = _toy_gan(strategy, num_d_steps=2, accumulation_steps=2, ema_decay=0.5,
                       ema_start=1, ortho_beta=1e-2, seed=4)
        batch_logs = BatchLogs()
        history = gan.fit(dataset, epochs=1, verbose=0, callbacks=[batch_logs]).history
        assert gan.gan_step.config.global_batch_size == batch
        runs.append((gan, history, batch_logs.logs))
    (one, one_history, one_logs), (two, two_history, two_logs) = runs
    assert two.distribute_strategy.num_replicas_in_sync == 2
    for name, actual, expected in zip(("G", "D", "EMA G"), models_snapshot(two),
                                      models_snapshot(one)):
        helpers.assert_snapshots_close(actual, expected, atol=1e-6, rtol=1e-6, what=name)
    assert any(not np.allclose(a, b) for (_, a), (_, b) in zip(
        models_snapshot(one)[0], helpers.snapshot(_toy_gan().generator)))  # G trained.
    for gan in (one, two):
        assert int(gan.step.numpy()) == steps
        assert int(gan.d_optimizer.iterations.numpy()) == 2 * steps
    # Losses and D outputs are global means on both; gradient norms are those of each
    # replica's share of the gradient (as in the trainer), so they are not compared.
    for key in ("d_loss", "d_real", "d_fake", "g_loss"):
        for index in range(steps):
            np.testing.assert_allclose(two_logs[index][key], one_logs[index][key], rtol=1e-5,
                                       atol=1e-7, err_msg=f"{key} batch {index}")
        np.testing.assert_allclose(two_history[key], one_history[key], rtol=1e-5, atol=1e-7,
                                   err_msg=key)
    for model in (two.generator, two.discriminator, two.ema_generator):
        for weight in model.weights:
            first, second = helpers.replica_copies(weight)
            np.testing.assert_array_equal(first, second, err_msg=weight.path)
    assert [int(v) for v in helpers.replica_copies(two.step)] == [steps, steps]


def _event_scalars(log_dir, tag):
    """{step: value} of a scalar tag in the TensorBoard event files under `log_dir`."""
    values = {}
    for path in tf.io.gfile.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


@pytest.mark.slow
def test_keras_callbacks_stop_on_a_metric_log_it_and_checkpoint_the_run(reference, one_device,
                                                                        tmp_path):
    gan, dataset = one_device.gan, reference.dataset
    start = int(gan.step.numpy())
    # An improvement must exceed 1e9, so the second epoch does not improve and, with
    # patience 1, ends the run: that needs the reported `d_loss`.
    stop = keras.callbacks.EarlyStopping(monitor="d_loss", mode="min", min_delta=1e9,
                                         patience=1)
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    weights = str(tmp_path / "gan.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(weights, save_weights_only=True)
    history = gan.fit(dataset, epochs=10, verbose=0, callbacks=[stop, board, checkpoint])
    assert stop.stopped_epoch == 1 and len(history.history["d_loss"]) == 2
    assert int(gan.step.numpy()) == start + 2 * STEPS
    assert np.all(np.isfinite(history.history["g_loss"]))
    # TensorBoard got every reported figure of both epochs.
    for key in tfbiggan.gan.STATS:
        logged = _event_scalars(str(tmp_path / "logs" / "train"), f"epoch_{key}")
        np.testing.assert_allclose([logged[0], logged[1]], history.history[key], rtol=1e-6,
                                   err_msg=key)
    # Without the metric, the same callback does not stop the run.
    with pytest.warns(UserWarning, match="no_such_metric"):
        control = gan.fit(dataset, epochs=3, verbose=0, callbacks=[
            keras.callbacks.EarlyStopping(monitor="no_such_metric", mode="min", patience=1)])
    assert len(control.history["d_loss"]) == 3

    # The checkpoint of the last epoch holds the whole run at that point.
    config = reference.config
    other_weights = [m.get_weights() for m in trainer_lib.build_models(config.model)]
    fresh = make_gan(config, other_weights)
    fresh.load_weights(weights)
    gan.load_weights(weights)  # Back to the checkpointed epoch (the control trained on).
    assert int(fresh.step.numpy()) == start + 2 * STEPS
    assert_same_state(full_state(fresh), full_state(gan))


@pytest.mark.slow
def test_models_and_the_gan_save_and_load(one_device, tmp_path):
    gan = one_device.gan
    z = np.random.default_rng(0).standard_normal((3, gan.generator.dim_z)).astype(np.float32)
    y = np.array([0, 4, 9], np.int32)
    for name in ("generator", "ema_generator", "discriminator"):
        model = getattr(gan, name)
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is type(model)
        for a, b in zip(loaded.weights, model.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name} {b.path}")
        images = gan.generator(z, y, training=False)
        if name == "discriminator":
            expected, actual = model(images, y, training=False), loaded(images, y,
                                                                        training=False)
        else:
            expected, actual = model(z, y, training=False), loaded(z, y, training=False)
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-6,
                                   err_msg=name)

    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, tfbiggan.GAN)
    assert_same_state(full_state(loaded), full_state(gan))
    assert loaded.get_compile_config() == gan.get_compile_config()
    assert (loaded.ema_decay, loaded.ema_start, loaded.gan_step.config.num_d_steps) == (
        0.9, 1, NUM_D_STEPS)
    np.testing.assert_allclose(np.asarray(loaded((z, y))), np.asarray(gan((z, y))), atol=1e-6)


# A GAN of toy models trained with BackupAndRestore (backup each epoch) for 4 epochs of 3
# iterations; `kill_at` > 0 kills the process (SIGKILL) when the step counter reaches it.
_RESUME_RUN = """
import json, os, signal, sys
import keras
import numpy as np
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
import tfbiggan
from tests.training import helpers

backup, output, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
generator, discriminator = helpers.toy_models(seed=0)
ema_generator, _ = helpers.toy_models(seed=0)
gan = tfbiggan.GAN(generator, discriminator, ema_generator=ema_generator)
gan.compile(g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.0, beta_2=0.99),
            d_optimizer=keras.optimizers.Adam(4e-3, beta_1=0.0, beta_2=0.99),
            num_d_steps=2, ema_decay=0.8, ema_start=2, ortho_beta=1e-3, seed=5)
images, labels = helpers.random_batch(24, 4, 3, seed=1)
dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
epochs = []

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        epochs.append(epoch)
        with open(output + ".epochs", "w") as f:
            json.dump(epochs, f)

    def on_train_batch_end(self, batch, logs=None):
        if int(gan.step.numpy()) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

gan.fit(dataset, epochs=4, verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup), Kill()])
state = [v.numpy() for v in gan.weights + gan.g_optimizer.variables + gan.d_optimizer.variables]
np.savez(output, *state)
"""


def _resume_run(tmp_path, name, backup, kill_at=0):
    output = str(tmp_path / name)
    result = subprocess.run(
        [sys.executable, "-c", _RESUME_RUN, str(backup), output, str(kill_at)],
        cwd=conftest.REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT), CUDA_VISIBLE_DEVICES="",
                 TF_CPP_MIN_LOG_LEVEL="2"))
    with open(output + ".epochs", encoding="utf-8") as f:
        epochs = json.load(f)
    return result, output + ".npz", epochs


@pytest.mark.slow
def test_backup_and_restore_resumes_a_killed_fit_to_the_uninterrupted_weights(tmp_path):
    straight, path, epochs = _resume_run(tmp_path, "straight", tmp_path / "backup_straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert epochs == [0, 1, 2, 3]
    expected = np.load(path)

    backup = tmp_path / "backup"
    killed, _, epochs = _resume_run(tmp_path, "killed", backup, kill_at=5)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert epochs == [0, 1]  # Killed in the second epoch (step 5), after the first's backup.
    with open(backup / "training_metadata.json", encoding="utf-8") as f:
        assert json.load(f)["epoch"] == 1

    resumed, path, epochs = _resume_run(tmp_path, "resumed", backup)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert epochs == [1, 2, 3]  # From the backup: the second epoch again, then the rest.
    actual = np.load(path)
    assert len(actual.files) == len(expected.files) > 10
    for key in expected.files:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)
    assert not backup.exists()  # BackupAndRestore removes its backup after a finished run.


def _adam():
    return keras.optimizers.Adam(1e-3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_d_steps=0), "`num_d_steps` must be a positive integer, got 0"),
    (dict(ema_decay=1.0), "`ema_decay` must be a number in [0, 1), got 1.0"),
    (dict(ema_start=-1), "`ema_start` must be a non-negative integer, got -1"),
    (dict(accumulation_steps=0), "`accumulation_steps` must be a positive integer, got 0"),
    (dict(loss="hinge2"), "hinge2"),
    (dict(learning_rate=1e-3), "Unknown GAN.compile option(s) ['learning_rate']; accepted: ["),
    (dict(historical_averaging_g=0.1), "historical averaging is available through the Trainer"),
])
def test_bad_compile_arguments_are_named(kwargs, message):
    gan = _toy_gan()
    with pytest.raises(ValueError) as error:
        gan.compile(g_optimizer=_adam(), d_optimizer=_adam(), **kwargs)
    assert message in str(error.value)


def test_bad_optimizers_and_models_are_named():
    gan = _toy_gan()
    optimizer = _adam()
    with pytest.raises(ValueError, match="two optimizer objects"):
        gan.compile(g_optimizer=optimizer, d_optimizer=optimizer)
    with pytest.raises(ValueError, match=r"`d_optimizer` must be a keras.optimizers.Optimizer"):
        gan.compile(g_optimizer=_adam(), d_optimizer=3)
    _, discriminator = helpers.toy_models()
    with pytest.raises(ValueError, match="`generator` must have an integer `dim_z`"):
        tfbiggan.GAN(discriminator, discriminator)


def test_fit_needs_static_batches_that_split_into_the_updates():
    images, labels = helpers.random_batch(10, 4, 3)
    gan = _toy_gan()
    gan.compile(g_optimizer=_adam(), d_optimizer=_adam(), num_d_steps=2)
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    with pytest.raises(ValueError, match="drop_remainder=True"):
        gan.fit(data.batch(4), verbose=0)
    with pytest.raises(ValueError, match=r"does not split into num_d_steps × accumulation_steps "
                                         r"= 2 equal updates"):
        gan.fit(data.batch(3, drop_remainder=True), verbose=0)
    with pytest.raises(ValueError, match=r"labels must be integer class ids of shape \[batch\]"):
        gan.fit(tf.data.Dataset.from_tensor_slices(
            (images, np.eye(3, dtype=np.float32)[labels])).batch(4, drop_remainder=True),
            verbose=0)
    assert int(gan.step.numpy()) == 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
