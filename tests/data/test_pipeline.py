"""Training pipeline: batches, determinism, flips, per-replica sharding, config errors."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests.data import reference
from tfbiggan.data import digits
from tfbiggan.data import pipeline
from tfbiggan.data import tfrecords


@pytest.fixture(scope="module")
def digits_16():
    return digits.load_digits_images(16, channels=3)


def _match(images, labels, all_images, all_labels):
    """Index of the digit each image equals (up to float error), checking its label."""
    distances = np.abs(images[:, None] - all_images[None]).reshape(
        len(images), len(all_images), -1).max(-1)
    index = distances.argmin(1)
    assert distances[np.arange(len(images)), index].max() < 1e-5
    np.testing.assert_array_equal(labels, all_labels[index])
    return index


def test_digits_batches_equal_the_bundled_images(digits_16):
    config = {"source": "digits", "random_flip": False, "shuffle_buffer": 64}
    dataset = pipeline.make_dataset(config, 16, 12, seed=3)
    assert dataset.element_spec[0].shape == (12, 16, 16, 3)
    assert dataset.element_spec[1] == tf.TensorSpec([12], tf.int32)
    images, labels = next(iter(dataset))
    assert images.dtype == tf.float32
    index = _match(images.numpy(), labels.numpy(), *digits_16)
    assert len(set(index)) == 12  # shuffled distinct examples


def test_same_seed_same_batches_and_flips_are_mirrors(digits_16):
    config = {"source": "digits", "random_flip": True}
    first = [b[0].numpy() for b in pipeline.make_dataset(config, 16, 8, seed=5).take(3)]
    second = [b[0].numpy() for b in pipeline.make_dataset(config, 16, 8, seed=5).take(3)]
    other = [b[0].numpy() for b in pipeline.make_dataset(config, 16, 8, seed=6).take(3)]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))
    assert not np.array_equal(np.stack(first), np.stack(other))
    flipped = 0
    for images, labels in pipeline.make_dataset(config, 16, 8, seed=5).take(3):
        images = images.numpy()
        mirrored = images[:, :, ::-1]
        for image, mirror, label in zip(images, mirrored, labels.numpy()):
            plain = np.abs(digits_16[0] - image).max(axis=(1, 2, 3)).min() < 1e-5
            flip = np.abs(digits_16[0] - mirror).max(axis=(1, 2, 3)).min() < 1e-5
            assert plain or flip
            flipped += int(flip and not plain)
    assert flipped > 0


def test_folder_of_images_through_the_pipeline(tmp_path):
    from PIL import Image  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (12, 18, 3), dtype=np.uint8) for _ in range(3)]
    for i, array in enumerate(arrays):
        (tmp_path / f"c{i}").mkdir()
        Image.fromarray(array).save(tmp_path / f"c{i}" / "x.png")
    config = {"source": "folder", "path": str(tmp_path), "random_flip": False,
              "num_classes": 3}
    images, labels = next(iter(pipeline.make_dataset(config, 8, 6, seed=0)))
    assert images.shape == (6, 8, 8, 3)
    expected = np.stack([reference.preprocess(a, 8) for a in arrays])
    np.testing.assert_allclose(images.numpy(), expected[labels.numpy()], atol=2e-6)


def test_two_replicas_get_half_the_global_batch(digits_16):
    strategy = conftest.two_replica_strategy()
    config = {"source": "digits", "random_flip": False}
    dataset = pipeline.distribute(strategy, config, 16, 8, seed=1)
    images, labels = next(iter(dataset))
    per_replica = strategy.experimental_local_results(images)
    per_replica_labels = strategy.experimental_local_results(labels)
    assert len(per_replica) == 2
    indices = []
    for replica_images, replica_labels in zip(per_replica, per_replica_labels):
        assert replica_images.shape == (4, 16, 16, 3)
        indices.append(_match(replica_images.numpy(), replica_labels.numpy(), *digits_16))
    assert set(indices[0]).isdisjoint(indices[1])


def test_per_replica_batch_from_input_context():
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1,
                                         num_replicas_in_sync=2)
    dataset = pipeline.make_dataset({"source": "digits"}, 8, 6, seed=0, input_context=context)
    assert dataset.element_spec[0].shape == (3, 8, 8, 3)


def test_batch_not_divisible_by_replicas():
    strategy = conftest.two_replica_strategy()
    with pytest.raises(ValueError, match="`global_batch_size` 7 is not divisible by the 2 "
                                         "replicas.*multiple of 2"):
        pipeline.distribute(strategy, {"source": "digits"}, 16, 7)
    context = tf.distribute.InputContext(1, 0, 4)
    with pytest.raises(ValueError, match="`global_batch_size` 6 is not divisible by the 4"):
        pipeline.make_dataset({"source": "digits"}, 16, 6, input_context=context)


def test_config_errors():
    with pytest.raises(ValueError, match="Unknown data source 'lmdb'; accepted: tfds, folder"):
        pipeline.make_dataset({"source": "lmdb"}, 16, 8)
    with pytest.raises(ValueError, match="Unknown data config field\\(s\\) \\['shufle'\\]"):
        pipeline.resolve_config(shufle=3)
    with pytest.raises(ValueError, match="'folder' needs `path`, got None"):
        pipeline.make_dataset({"source": "folder"}, 16, 8)
    with pytest.raises(ValueError, match="'tfds' needs `name`"):
        pipeline.make_dataset({"source": "tfds"}, 16, 8)
    with pytest.raises(ValueError, match="`global_batch_size` must be a positive integer, got 0"):
        pipeline.make_dataset(None, 16, 0)
    with pytest.raises(ValueError, match="`shuffle_buffer` must be an integer >= 0, got -1"):
        pipeline.resolve_config(shuffle_buffer=-1)
    with pytest.raises(ValueError, match="digits have 10 classes.*num_classes=5"):
        pipeline.make_dataset({"num_classes": 5}, 16, 8)


def test_unvalidated_records_are_checked_while_reading(tmp_path):
    """With validate=False the label range and image size are asserted in the pipeline."""
    images = np.zeros((2, 10, 10, 3), np.uint8)
    path = tfrecords.write_tfrecords(images, [0, 9], str(tmp_path / "r"))[0]
    config = {"source": "tfrecord", "path": path, "validate": False, "num_classes": 4,
              "shuffle_buffer": 0}
    with pytest.raises(tf.errors.InvalidArgumentError, match="label out of range"):
        next(iter(pipeline.make_dataset(config, 8, 2, seed=0)))
    config["num_classes"] = 10
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the target"):
        next(iter(pipeline.make_dataset(config, 16, 2, seed=0)))


def test_default_config_is_embeddable():
    config = pipeline.default_config()
    config.source, config.path, config.num_classes = "folder", "/data", 7
    resolved = pipeline.resolve_config(config)
    assert (resolved.source, resolved.path, resolved.num_classes) == ("folder", "/data", 7)
    assert resolved.shuffle_buffer == pipeline.default_config().shuffle_buffer


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
