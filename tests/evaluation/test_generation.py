"""Samples of generators and exported modules for evaluation."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (two logical CPUs)
from tests.evaluation.helpers import (NUM_CLASSES, Features, TFFeatures, expected_latents,
                                      real_arrays, tiny_generator)
from tfbiggan import evaluation, metrics, standing_stats
from tfbiggan.metrics import feature_statistics


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


def test_sample_images_generator_without_filled_bank(generator):
    classes = np.array([0, 3, 9, 1, 1, 2, 5], np.int32)
    images, labels = evaluation.sample_images(generator, 7, batch_size=3, truncation=0.5,
                                              seed=4, classes=classes)
    assert images.shape == (7, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, classes)
    assert not evaluation.bank_is_filled(generator)
    z = expected_latents(7, 3, generator.dim_z, 0.5, 4)
    assert np.all(np.abs(z) <= 1.0)  # t · truncated_normal(±2)
    expected = generator(z, classes, training=False).numpy()  # current statistics
    np.testing.assert_allclose(images, expected, atol=1e-5)
    # Random classes are seeded: same seed, same labels; a single id broadcasts.
    again = evaluation.sample_images(generator, 7, 3, 0.5, 4)[1]
    np.testing.assert_array_equal(again, evaluation.sample_images(generator, 7, 3, 0.5, 4)[1])
    assert set(again) <= set(range(NUM_CLASSES))
    np.testing.assert_array_equal(evaluation.sample_images(generator, 3, 2, 1.0, 0, 6)[1],
                                  [6, 6, 6])


@pytest.mark.slow
def test_sample_images_bank_and_export_agree(tmp_path):
    from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
    generator = tiny_generator(seed=1)
    standing_stats.collect_truncation_bank(generator, num_batches=1, batch_size=8)
    assert evaluation.bank_is_filled(generator)
    classes = np.array([2, 7, 7, 0, 9], np.int32)
    images, labels = evaluation.sample_images(generator, 5, 2, 0.3, seed=1, classes=classes)
    z = expected_latents(5, 2, generator.dim_z, 0.3, 1)
    np.testing.assert_allclose(
        images, generator(z, classes, training=False, truncation=0.3).numpy(), atol=1e-5)
    # The bank changes the images: they differ from those with the moving statistics.
    assert np.max(np.abs(images - generator(z, classes, training=False).numpy())) > 1e-3

    path = export_hub.export_generator(generator, str(tmp_path / "module"), {"step": 7})
    module = tf.saved_model.load(path)
    assert evaluation.is_exported_module(module)
    assert evaluation.source_info(module) == (generator.dim_z, NUM_CLASSES, 32)
    module_images, module_labels = evaluation.sample_images(module, 5, 2, 0.3, 1, classes)
    assert module_images.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(module_labels, classes)
    np.testing.assert_allclose(module_images, images, atol=1e-4)


@pytest.mark.slow
def test_sampling_with_a_filled_bank_under_two_replicas():
    one = tiny_generator(seed=1)
    standing_stats.collect_truncation_bank(one, num_batches=1, batch_size=8)
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        two = tiny_generator(seed=1)
    two.set_weights(one.get_weights())
    assert evaluation.bank_is_filled(two)
    classes = np.array([2, 7, 7, 0, 9], np.int32)
    expected = evaluation.sample_images(one, 5, 5, 0.3, seed=1, classes=classes)[0]
    images = np.concatenate([batch for batch, _ in evaluation.iter_samples(
        two, 5, 5, 0.3, 1, classes, strategy=strategy)])
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_sample_images_rejects_bad_arguments(generator):
    with pytest.raises(ValueError, match="truncation"):
        evaluation.sample_images(generator, 4, 2, truncation=1.5)
    with pytest.raises(ValueError, match=r"`classes` must be .* 4 class ids in \[0, 10\)"):
        evaluation.sample_images(generator, 4, 2, classes=[0, 1, 2, 10])
    with pytest.raises(ValueError, match="num_samples"):
        evaluation.sample_images(generator, 0, 2)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
