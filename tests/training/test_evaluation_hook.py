"""The periodic evaluation hook: schedule, figures to metrics.jsonl and the best checkpoint."""

import json
import os
import sys

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (two logical CPUs)
from tfbiggan import evaluation, metrics
from tfbiggan.metrics import digits as digits_metrics
from tfbiggan.models import BigGANGenerator
from tfbiggan.training import evaluation_hook, monitoring


class ShiftedFeatures:
    """Stand-in digits classifier: 4×4 average pooling of the channel mean → 16 features plus
    `offset` (a knob moving the sample features away from the real ones, which are grey);
    logits are the first 10 features."""

    __name__ = "shifted_pool4"

    def __init__(self):
        self.offset = 0.0

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        n, r, channels = images.shape[0], images.shape[1], images.shape[-1]
        pooled = images.mean(axis=-1).reshape(n, 4, r // 4, 4, r // 4).mean(axis=(2, 4))
        pooled = pooled.reshape(n, 16)
        return pooled + (self.offset if channels == 3 else 0.0), pooled[:, :10]


class TrainerLike:
    """What the hook reads from a Trainer: EMA generator, checkpoint, step, config."""

    def __init__(self):
        tf.keras.utils.set_random_seed(0)
        self.ema_generator = BigGANGenerator(32, ch=4, num_classes=10, num_truncation_stats=0,
                                             attention=())
        self.ema_generator(np.zeros((1, self.ema_generator.dim_z), np.float32),
                           np.zeros((1,), np.int32))
        self.step = tf.Variable(0, dtype=tf.int64)
        self.checkpoint = tf.train.Checkpoint(step=self.step, ema_generator=self.ema_generator)
        self.config = ml_collections.ConfigDict({"data": {"pipeline": {"source": "digits"}}})


@pytest.fixture
def features(monkeypatch):
    stand_in = ShiftedFeatures()
    monkeypatch.setattr(digits_metrics, "load_digits_classifier", lambda *a, **k: stand_in)
    return stand_in


def suite_arrays(suite, which):
    images, labels = next(getattr(suite, which).batches(5000))
    return images, labels


def eval_config(tmp_path, **fields):
    config = evaluation_hook.default_eval_config()
    config.update({"every": 2, "metric": "fid", "num_samples": 40, "batch_size": 20,
                   "cache_dir": str(tmp_path / "cache"), **fields})
    return config


def test_default_config_is_off_and_validated(tmp_path):
    config = evaluation_hook.default_eval_config()
    assert config.every == 0 and config.feature_network == "auto"
    assert set(config.keys()) == {"every", "metric", "num_samples", "truncation",
                                  "feature_network", "inception", "num_reference",
                                  "batch_size", "seed", "progress", "cache_dir"}
    hook = evaluation_hook.EvaluationHook(config, str(tmp_path))
    assert not hook.enabled and hook.maybe_evaluate(object(), 1000) is None
    with pytest.raises(ValueError, match=r"`eval.metric` must be one of .*'fid'.*got 'fdi'"):
        evaluation_hook.EvaluationHook({"metric": "fdi"}, str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown eval config field\(s\) \['evry'\]"):
        evaluation_hook.EvaluationHook({"evry": 5}, str(tmp_path))
    with pytest.raises(ValueError, match="eval.truncation"):
        evaluation_hook.EvaluationHook({"truncation": 0.0}, str(tmp_path))


def test_direction_of_each_metric(tmp_path):
    def better(metric, value, best):
        return evaluation_hook.EvaluationHook({"metric": metric}, str(tmp_path)).is_better(
            value, best)

    for metric in ("fid", "kid", "swd", "intra_fid"):
        assert better(metric, 1.0, 2.0) and not better(metric, 3.0, 2.0)
    for metric in ("is", "class_consistency", "pr", "precision", "recall", "density",
                   "coverage", "variety"):
        assert better(metric, 3.0, 2.0) and not better(metric, 1.0, 2.0)
    assert better("fid", 5.0, None) and not better("fid", float("nan"), None)


def test_keeps_the_best_checkpoint_apart(tmp_path, features):
    workdir = str(tmp_path / "run")
    trainer = TrainerLike()
    hook = evaluation_hook.EvaluationHook(eval_config(tmp_path), workdir)
    writer = monitoring.MetricsWriter(workdir)
    kernel = trainer.ema_generator.trainable_weights[0]
    offsets = {2: 3.0, 4: 1.0, 6: 10.0}  # FID grows with |offset|: step 4 is the best.
    values = {}
    for step in range(1, 7):
        trainer.step.assign(step)
        kernel.assign(tf.fill(kernel.shape, float(step) / 100.0))
        features.offset = offsets.get(step, 0.0)
        result = hook.maybe_evaluate(trainer, step, writer)
        assert (result is None) == (step % 2 == 1)
        if result is not None:
            values[step] = result["fid"]
    assert values[4] < values[2] < values[6]

    # The figure is the FID of the samples' features against the digits' reference half,
    # the samples having the classes of the first 40 digits of the other half.
    trainer.ema_generator.trainable_weights[0].assign(tf.fill(kernel.shape, 0.04))
    suite = evaluation.digits_suite(32)
    ceiling_images, ceiling_labels = suite_arrays(suite, "ceiling")
    images, _ = evaluation.sample_images(trainer.ema_generator, 40, 20, 1.0, 0,
                                         ceiling_labels[:40])
    reference, _ = ShiftedFeatures()(suite_arrays(suite, "reference")[0])
    features.offset = 1.0
    fake, _ = features(images)
    assert values[4] == pytest.approx(metrics.fid_from_activations(reference, fake), rel=1e-5)
    # Beside it, the FID of those 40 real digits.
    held_out, _ = ShiftedFeatures()(ceiling_images[:40])
    result = hook.evaluate(trainer)
    assert result["fid_real"] == pytest.approx(metrics.fid_from_activations(reference,
                                                                            held_out), rel=1e-5)

    best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    assert best == {"step": 4, "metric": "fid", "value": values[4], "checkpoint": "ckpt-4"}
    best_dir = os.path.join(workdir, "best")
    assert tf.train.latest_checkpoint(best_dir).endswith("ckpt-4")
    assert not [name for name in os.listdir(best_dir) if name.startswith("ckpt-2")]
    restored_step = tf.Variable(0, dtype=tf.int64)
    restored = TrainerLike().ema_generator
    tf.train.Checkpoint(step=restored_step, ema_generator=restored).restore(
        tf.train.latest_checkpoint(best_dir)).assert_existing_objects_matched()
    assert int(restored_step.numpy()) == 4
    np.testing.assert_allclose(restored.trainable_weights[0].numpy(), 0.04)

    records = [json.loads(line) for line in open(writer.path, encoding="utf-8")]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert [r["eval/fid"] for r in records] == [values[2], values[4], values[6]]
    assert [r["eval/is_best"] for r in records] == [1.0, 1.0, 0.0]

    # A new hook (a resumed run) keeps the recorded best unless it is beaten.
    resumed = evaluation_hook.EvaluationHook(eval_config(tmp_path), workdir)
    features.offset = 5.0
    trainer.step.assign(8)
    assert resumed.maybe_evaluate(trainer, 8)["is_best"] == 0.0
    assert json.loads((tmp_path / "run" / "best" / "best.json").read_text())["step"] == 4


def test_class_consistency_higher_is_better(tmp_path, features):
    trainer = TrainerLike()
    hook = evaluation_hook.EvaluationHook(
        eval_config(tmp_path, metric="class_consistency", every=1), str(tmp_path / "run"))
    result = hook.maybe_evaluate(trainer, 1)
    _, ceiling_labels = suite_arrays(evaluation.digits_suite(32), "ceiling")
    images, labels = evaluation.sample_images(trainer.ema_generator, 40, 20, 1.0, 0,
                                              ceiling_labels[:40])
    assert result["class_consistency"] == pytest.approx(
        metrics.class_consistency(features, images, labels))
    # Every evaluation reports the standard figures, each beside its real value.
    for key in ("fid", "is", "precision", "recall", "density", "coverage", "variety",
                "variety_min", "class_consistency"):
        assert np.isfinite(result[key]) and np.isfinite(result[f"{key}_real"]), key
    assert result["is_best"] == 1.0
    best = hook.best()
    assert best["metric"] == "class_consistency" and best["step"] == 1


def tiny_trainer_config():
    from tfbiggan.training import defaults  # pylint: disable=import-outside-toplevel
    config = defaults.base_config()
    config.model.preset = "biggan_tiny_32"
    config.model.overrides.ch = 4
    config.model.overrides.attention = ()
    config.model.overrides.num_truncation_stats = 0
    config.data.pipeline.source = "digits"
    config.data.pipeline.num_classes = 10
    config.data.pipeline.shuffle_buffer = 16
    config.training.batch_size = 4
    config.training.accumulation_steps = 1
    config.training.num_d_steps = 1
    config.training.jit_compile = False
    config.checkpoint.every = 1000
    config.log.every = 1
    config.log.sample_every = 0
    config.log.singular_values_every = 0
    return config


@pytest.mark.slow
def test_with_a_real_trainer(tmp_path, features):
    from tfbiggan.training import trainer as trainer_lib  # pylint: disable=import-outside-toplevel
    workdir = str(tmp_path / "run")
    trainer = trainer_lib.Trainer(tiny_trainer_config(), workdir)
    trainer.train(steps=2, progress=False)
    hook = evaluation_hook.EvaluationHook(eval_config(tmp_path, metric="is"), workdir)
    result = hook.maybe_evaluate(trainer, 2)
    _, ceiling_labels = suite_arrays(evaluation.digits_suite(32), "ceiling")
    _, logits = features(evaluation.sample_images(
        trainer.ema_generator, 40, 20, 1.0, 0, ceiling_labels[:40])[0])
    assert result["is"] == pytest.approx(metrics.inception_score_from_logits(logits)[0])
    assert hook.best() == {"step": 2, "metric": "is", "value": result["is"],
                           "checkpoint": "ckpt-2"}
    # The best checkpoint holds the whole training state, apart from the rolling ones.
    best = tf.train.latest_checkpoint(os.path.join(workdir, "best"))
    names = {name for name, _ in tf.train.list_variables(best)}
    assert any(name.startswith("d_optimizer/") for name in names)
    assert tf.train.load_checkpoint(best).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 2
    assert trainer.manager.latest_checkpoint.startswith(os.path.join(workdir, "checkpoints"))


class TFShiftedFeatures(ShiftedFeatures):
    """`ShiftedFeatures` in TensorFlow ops (it runs in the replicas of the trainer)."""

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        r, channels = images.shape[1], images.shape[-1]
        grey = tf.reduce_mean(images, axis=-1)
        pooled = tf.reshape(tf.reduce_mean(tf.reshape(grey, [-1, 4, r // 4, 4, r // 4]),
                                           axis=[2, 4]), [-1, 16])
        return pooled + (self.offset if channels == 3 else 0.0), pooled[:, :10]


@pytest.mark.slow
def test_two_replica_trainer_splits_the_evaluation(tmp_path, monkeypatch):
    from tfbiggan.training import trainer as trainer_lib  # pylint: disable=import-outside-toplevel
    stand_in = TFShiftedFeatures()
    monkeypatch.setattr(digits_metrics, "load_digits_classifier", lambda *a, **k: stand_in)
    strategy = conftest.two_replica_strategy()
    trainer = trainer_lib.Trainer(tiny_trainer_config(), str(tmp_path / "run"), strategy)
    trainer.train(steps=1, progress=False)
    hook = evaluation_hook.EvaluationHook(eval_config(tmp_path, every=1, num_samples=30,
                                                      batch_size=15), str(tmp_path / "run"))
    result = hook.maybe_evaluate(trainer, 1)
    suite = hook._suite  # pylint: disable=protected-access
    assert isinstance(suite.feature_fn, evaluation.SplitOverReplicas)
    # The same figures from one device, with the same samples and reference.
    one_device = evaluation.evaluate_suite(trainer.ema_generator, evaluation.digits_suite(32),
                                           30, batch_size=15, seed=0)
    for key in ("fid", "fid_real", "precision", "recall", "coverage", "variety"):
        assert result[key] == pytest.approx(one_device[key], rel=1e-4, abs=1e-6), key


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
