"""Batches split over the replicas of a strategy; evaluation under two replicas."""

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


def test_split_over_replicas_splits_pads_and_restores_the_order():
    strategy = conftest.two_replica_strategy()

    def fn(x, y):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return 2.0 * x + y[:, None], tf.fill([tf.shape(x)[0]], replica)

    split = evaluation.SplitOverReplicas(fn, strategy)
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    y = np.arange(7, dtype=np.float32)
    out, replica = split(x, y)
    np.testing.assert_array_equal(out, 2.0 * x + y[:, None])
    # 7 examples: 4 on replica 0, 3 (plus one repeated, dropped) on replica 1.
    np.testing.assert_array_equal(replica, [0, 0, 0, 0, 1, 1, 1])
    assert evaluation.split_over_replicas(split, strategy) is split
    assert evaluation.split_over_replicas(fn, None) is fn
    with pytest.raises(ValueError, match="share one non-zero batch size"):
        split(x, y[:3])


@pytest.mark.slow
def test_evaluate_under_two_replicas_equals_one_device(generator):
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        mirrored = tiny_generator(seed=5)
    mirrored.set_weights(generator.get_weights())
    real_images, real_labels = real_arrays()
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="random")
    classes = evaluation.balanced_classes(50, NUM_CLASSES)
    names = ("fid", "is", "kid", "class_consistency", "ms_ssim")
    options = {"is": {"splits": 2}, "kid": {"num_subsets": 3, "subset_size": 20}}
    one = evaluation.evaluate(generator, TFFeatures(), names, 50, 0.6, reference=reference,
                              batch_size=15, seed=3, classes=classes, options=options)
    two = evaluation.evaluate(mirrored, TFFeatures(), names, 50, 0.6, reference=reference,
                              batch_size=15, seed=3, classes=classes, options=options,
                              strategy=strategy, progress=True)
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-6), name
    # Images under the strategy equal those of one device, batch by batch (15 = 8 + 7).
    images_one = evaluation.sample_images(generator, 20, 15, 0.6, 3, classes[:20])[0]
    images_two = np.concatenate([batch for batch, _ in evaluation.iter_samples(
        mirrored, 20, 15, 0.6, 3, classes[:20], strategy=strategy)])
    np.testing.assert_allclose(images_two, images_one, atol=1e-5)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
