"""Fashion-MNIST end to end at CI size, on IDX files written here: grey training, a grey
export, and the evaluation suite (its classifier, reference and test-split ceiling)."""

import dataclasses
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.data.test_idx import write_split
from tests.training import helpers
from tfbiggan import evaluation
from tfbiggan.metrics import fashion_mnist
from tfbiggan.training import defaults
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training import workdir as wd


def _blobs(count, seed):
    """28×28 uint8 images whose class sets where a bright square sits: learnable, grey."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = (rng.uniform(0, 40, size=(count, 28, 28))).astype(np.uint8)
    for index, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        r, c = 3 + 12 * row + rng.integers(-1, 2), 2 + 5 * col + rng.integers(-1, 2)
        images[index, r:r + 8, c:c + 4] = 230
    return images, labels


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fashion_idx")
    write_split(directory, "train", *_blobs(400, 0))
    write_split(directory, "t10k", *_blobs(200, 1))
    return str(directory)


def tiny_fashion_config(idx_dir):
    """The tiny test config (tests/training/helpers.py) with Fashion-MNIST's data and model
    settings, reading the IDX files of `idx_dir`."""
    config = helpers.tiny_config()
    fashion = defaults.fashion_mnist_config()
    config.data = fashion.data
    config.data.pipeline.path = idx_dir
    config.data.pipeline.shuffle_buffer = 16
    config.training.augment = fashion.training.augment
    config.training.sort_by_class = fashion.training.sort_by_class
    for key in ("hierarchical", "shared_embedding", "out_channels", "in_channels",
                "mbstd_group_size", "mbstd_grouping"):
        config.model.overrides[key] = fashion.model.overrides[key]
    config.model.overrides.num_truncation_stats = 3
    return config


@pytest.mark.slow
def test_grey_from_data_to_export(idx_dir, tmp_path):
    from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
    config = tiny_fashion_config(idx_dir)
    trainer = trainer_lib.Trainer(config, str(tmp_path / "run"))
    trainer.train(progress=False)
    assert trainer.generator.out_channels == 1 and trainer.discriminator.in_channels == 1
    assert (trainer.discriminator.mbstd_group_size, trainer.discriminator.mbstd_grouping) == \
        (4, "contiguous") and trainer.discriminator.blocks[-1].conv1.kernel.shape[-2] == 4 * 4 + 1
    generator, step, _ = wd.load_ema_generator(str(tmp_path / "run"))
    assert step == 2
    z = np.zeros((2, generator.dim_z), np.float32)
    assert generator(z, np.array([0, 9]), training=False).shape == (2, 32, 32, 1)
    module = tf.saved_model.load(export_hub.export_generator(
        generator, str(tmp_path / "module"), {"step": step}, bank_batches=1,
        bank_batch_size=8))
    y = tf.one_hot([3, 4], 10)
    out = module(z, y, 0.5).numpy()
    assert out.shape == (2, 32, 32, 1) and np.all(np.abs(out) <= 1.0)
    np.testing.assert_allclose(out, generator(z, y, training=False, truncation=0.5).numpy(),
                               atol=1e-5)


@pytest.mark.slow
def test_suite_uses_its_classifier_the_train_reference_and_the_test_ceiling(
        idx_dir, tmp_path, monkeypatch):
    # The classifier learns these 400 squares (the 90 % bar is the real data's) in a short
    # schedule; trained on the real 60,000 images it takes minutes.
    monkeypatch.setattr(fashion_mnist, "SPEC", dataclasses.replace(
        fashion_mnist.SPEC, epochs=12, batch_size=32, min_accuracy=0.9,
        splits=lambda resolution: fashion_mnist.fashion_mnist_split(resolution, idx_dir)))
    suite = evaluation.fashion_mnist_suite(32, num_reference=300, cache_dir=str(tmp_path),
                                           path=idx_dir)
    assert suite.name == "fashion_mnist" and suite.classifier_accuracy >= 0.9
    assert suite.class_names[0] == "T-shirt/top" and len(suite.class_names) == 10
    assert (suite.reference.num_examples, suite.ceiling.num_examples) == (300, 200)
    ceiling_images = next(suite.ceiling.batches(500))[0]
    x_test = fashion_mnist.fashion_mnist_split(32, idx_dir)[2]
    np.testing.assert_array_equal(ceiling_images, x_test)  # The whole test split, padded.
    assert np.all(ceiling_images[:, :2] == -1.0)
    # The classifier is cached with its accuracy; a second suite loads it.
    monkeypatch.setattr(fashion_mnist.classifier_lib, "train_model",
                        lambda *a, **k: pytest.fail("the cached classifier was not reused"))
    again = evaluation.fashion_mnist_suite(32, num_reference=300, cache_dir=str(tmp_path),
                                           path=idx_dir)
    assert again.classifier_accuracy == suite.classifier_accuracy
    # suite_for picks it for an IDX data config naming fashion_mnist.
    chosen = evaluation.suite_for({"source": "idx", "name": "fashion_mnist", "path": idx_dir},
                                  32, 100, num_reference=300, cache_dir=str(tmp_path))
    assert chosen.name == "fashion_mnist"
    # Real test images as "samples" score the ceiling itself: every ratio is 1.
    results = evaluation.evaluate(
        _Replay(ceiling_images), suite.feature_fn, suite.metrics, 200, reference=suite.reference,
        classes=evaluation.ceiling_classes(suite.ceiling, 200), ceiling=suite.ceiling,
        batch_size=50)
    for key in ("fid", "precision", "recall", "coverage", "variety", "class_consistency"):
        assert results[key] == pytest.approx(results[f"{key}_real"], rel=1e-6), key


class _Replay(tf.Module):
    """A stand-in exported module that returns stored images in order (z and y ignored)."""

    def __init__(self, images):
        super().__init__()
        self.images = images
        self.offset = 0
        self.dim_z = tf.constant(4, tf.int64)
        self.num_classes = tf.constant(10, tf.int64)
        self.resolution = tf.constant(32, tf.int64)
        self.signatures = {}

    def __call__(self, z, y, truncation):
        del y, truncation
        batch = self.images[self.offset:self.offset + len(z)]
        self.offset += len(z)
        return tf.constant(batch)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
