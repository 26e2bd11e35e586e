"""Semi-supervised K+1 training: the labelled subset, the D loss against NumPy, a short run."""

import dataclasses
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training import helpers
from tfbiggan.models import presets
from tfbiggan.training import launch, semi_supervised
from tfbiggan.training.step import StepConfig


def test_labelled_subset_has_exactly_the_requested_count_per_class():
    labels = np.random.default_rng(3).integers(0, 10, 500)
    index = semi_supervised.labelled_subset(labels, 10, seed=1)
    assert len(index) == len(set(index)) == 100
    np.testing.assert_array_equal(np.bincount(labels[index], minlength=10), [10] * 10)
    _, _, labelled_labels, test_x, test_y = semi_supervised.digits_data(32, 10, 0)
    np.testing.assert_array_equal(np.bincount(labelled_labels), [10] * 10)
    assert test_x.shape[1:] == (32, 32, 3) and len(test_y) == 359
    with pytest.raises(ValueError, match="`labels_per_class` 60 exceeds"):
        semi_supervised.labelled_subset(np.repeat(np.arange(10), 50), 60)


def _softplus(x):
    return np.logaddexp(0.0, x)


def test_d_loss_matches_numpy_on_a_toy_batch():
    keras.utils.set_random_seed(0)
    generator, discriminator = presets.from_preset("progan_mini_32", num_classes=0,
                                                   class_logits=10)
    for model in (generator, discriminator):
        model.set_stage(3)
    config = StepConfig(global_batch_size=8, num_d_steps=1, seed=5)
    step = semi_supervised.SemiSupervisedStep(
        generator, discriminator, keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0), config,
        labeled_batch_size=3, class_weight=0.7)
    real, _ = helpers.random_batch(8, 32, 10, seed=2)
    labels = np.array([-1, -1, -1, -1, -1, 4, 0, 9], np.int32)
    counter = tf.constant(11, tf.int64)
    z, y = step._latents(counter, 1, 0, 0, 8)
    fake = generator(z, y, training=True)
    logits = np.asarray(discriminator(tf.concat([real, fake], 0), None), np.float64)
    lse = np.log(np.sum(np.exp(logits), -1))
    real_lse, fake_lse = lse[:8], lse[8:]
    unsupervised = (np.sum(_softplus(-real_lse)) + np.sum(_softplus(fake_lse))) / 8
    ce = real_lse[5:] - logits[np.arange(5, 8), labels[5:]]
    expected = unsupervised + 0.7 * np.sum(ce) / 3
    _, stats = step._d_gradients(tf.constant(real), tf.constant(labels), counter, 0, 0)
    np.testing.assert_allclose(float(stats["d_loss"]), expected, rtol=1e-5)
    np.testing.assert_allclose(float(stats["d_class_loss"]), np.sum(ce) / 3, rtol=1e-5)


@pytest.mark.slow
def _tiny_semi_config():
    config = helpers.tiny_config()
    config.model.preset = "progan_mini_32"
    config.model.overrides.ch = None
    config.model.overrides.num_truncation_stats = None
    config.model.overrides.hierarchical = None       # BigGAN options of the digits recipe.
    config.model.overrides.shared_embedding = None
    config.model.overrides.num_classes = 0
    config.model.overrides.class_logits = 10
    config.training.mode = "semi_supervised"
    config.training.num_d_steps = 1
    config.training.d_lr = 2e-3
    config.semi_supervised.labels_per_class = 5
    config.semi_supervised.labeled_batch_size = 8
    return config


def test_a_few_semi_supervised_steps_run_and_report_test_accuracy(tmp_path):
    config = _tiny_semi_config()
    config.training.feature_matching = "replace"
    config.training.batch_size = 8
    config.training.ortho_beta = 0.0
    config.training.steps = 3
    config.semi_supervised.labeled_batch_size = 4
    trainer = launch.train(config, str(tmp_path), progress=False)
    assert isinstance(trainer, semi_supervised.SemiSupervisedTrainer)
    step, accuracy = semi_supervised.read_test_accuracy(str(tmp_path))
    assert step == 3 and 0.0 <= accuracy <= 1.0
    assert accuracy == pytest.approx(trainer.test_accuracy())


def test_supervised_baseline_learns_the_labelled_examples():
    config = _tiny_semi_config()
    untrained = semi_supervised.supervised_baseline(config, steps=1)
    results = semi_supervised.supervised_baseline(config, steps=150)
    assert results["num_labels"] == 50 and results["updates"] == 150
    # One update leaves D near chance; 150 updates (24 epochs of the 50 labelled digits)
    # fit them, and the held-out digits are classified far above chance (0.1).
    assert untrained["train_accuracy"] < 0.5
    assert results["train_accuracy"] >= 0.9
    assert results["test_accuracy"] > 0.4
    # Deterministic: the config's seed fixes the initialisation and the batch order.
    again = semi_supervised.supervised_baseline(config, steps=1)
    assert again["test_accuracy"] == untrained["test_accuracy"]
    with pytest.raises(ValueError, match="at least one update"):
        semi_supervised.supervised_baseline(config, steps=0)


def test_baseline_command_line(tmp_path, capsys):
    assert semi_supervised.main(["prog", "--baseline"]) == 2
    assert semi_supervised.main(["prog", "--baseline", "--config=x.py", "--steps=a"]) == 2
    assert semi_supervised.main(["prog", "--baseline", "--config=x.py", "--seed=-1"]) == 2
    assert semi_supervised.main(["prog", "--workdir=a", "--seed=1"]) == 2
    assert semi_supervised.main(["prog", "--workdir=a", "--config=b"]) == 2
    with pytest.raises(ValueError, match="--config must name a config file"):
        semi_supervised.main(["prog", "--baseline", f"--config={tmp_path}/missing.py"])
    config_file = tmp_path / "tiny.py"
    config_file.write_text("from tests.training.test_semi_supervised import "
                           "_tiny_semi_config as get_config\n")
    assert semi_supervised.main(["prog", "--baseline", f"--config={config_file}", "--steps=2",
                                 "--seed=3"]) == 0
    assert "supervised-only baseline, 50 labels, 2 updates" in capsys.readouterr().out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
