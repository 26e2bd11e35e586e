"""TFRecord source and writer: round trip, sharding of files, custom keys, bad records."""

import logging
import re
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (two logical CPU devices)
from tests.data import reference
from tfbiggan.data import preprocessing
from tfbiggan.data import tfrecords


def _images(count, shape=(9, 12, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count,) + shape, dtype=np.uint8)


def _write_raw(path, payloads, labels, image_key=tfrecords.DEFAULT_IMAGE_KEY,
               label_key=tfrecords.DEFAULT_LABEL_KEY):
    with tf.io.TFRecordWriter(path) as writer:
        for payload, label in zip(payloads, labels):
            example = tf.train.Example(features=tf.train.Features(feature={
                image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[payload])),
                label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }))
            writer.write(example.SerializeToString())


def test_round_trip_values_and_labels(tmp_path):
    images, labels = _images(5), np.array([3, 0, 2, 1, 4])
    paths = tfrecords.write_tfrecords(images, labels, str(tmp_path / "d.tfrecord"))
    assert paths == [str(tmp_path / "d.tfrecord")]
    examples = list(tfrecords.tfrecord_source(paths[0], 8, num_classes=5))
    assert len(examples) == 5
    for (image, label), original, expected_label in zip(examples, images, labels):
        np.testing.assert_array_equal(image.numpy(), original)
        assert label.dtype == tf.int32 and int(label) == expected_label
        np.testing.assert_allclose(preprocessing.preprocess_image(image, 8).numpy(),
                                   reference.preprocess(original, 8), atol=2e-6)


def test_shards_grey_images_custom_keys_and_glob(tmp_path):
    images, labels = _images(6, shape=(10, 10, 1), seed=1), np.arange(6) % 2
    paths = tfrecords.write_tfrecords(images, labels, str(tmp_path / "g"), num_shards=3,
                                      image_key="img", label_key="cls")
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"g-0000{i}-of-00003" for i in range(3)]
    dataset = tfrecords.tfrecord_source(str(tmp_path / "g-*"), 10, image_key="img",
                                        label_key="cls")
    got = sorted((int(l), image.numpy().tobytes()) for image, l in dataset)
    expected = sorted((int(l), np.repeat(i, 3, axis=-1).tobytes()) for i, l in zip(images, labels))
    assert got == expected


def test_sharding_across_input_pipelines_is_disjoint(tmp_path):
    images, labels = _images(6, seed=2), np.arange(6)
    for shards in (1, 3):  # record-level and file-level sharding
        stem = str(tmp_path / f"s{shards}")
        tfrecords.write_tfrecords(images, labels, stem, num_shards=shards)
        seen = []
        for pipeline in range(2):
            context = tf.distribute.InputContext(2, pipeline, 2)
            seen.append({int(l) for _, l in tfrecords.tfrecord_source(
                stem + "*", 8, input_context=context)})
        assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(6))


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No TFRecord files found at .*nothing-\\*"):
        tfrecords.tfrecord_source(str(tmp_path / "nothing-*"), 8)


def test_empty_records(tmp_path):
    path = str(tmp_path / "empty.tfrecord")
    _write_raw(path, [], [])
    for validate in (True, False):
        with pytest.raises(ValueError, match="hold no usable records"):
            tfrecords.tfrecord_source(path, 8, validate=validate)


def test_corrupt_record_named_or_skipped(tmp_path, caplog):
    good = tf.io.encode_png(_images(1)[0]).numpy()
    path = str(tmp_path / "bad.tfrecord")
    _write_raw(path, [good, b"garbage bytes", good, b""], [0, 1, 1, 0])
    pattern = f"Record 1 of TFRecord file {re.escape(repr(path))} cannot be read"
    with pytest.raises(ValueError, match=pattern + ".*skip_corrupt"):
        tfrecords.tfrecord_source(path, 8)
    with caplog.at_level(logging.WARNING):
        dataset = tfrecords.tfrecord_source(path, 8, skip_corrupt=True)
    assert "Skipped 2 unreadable record(s)" in caplog.text
    assert [int(l) for _, l in dataset] == [0, 1]
    assert tfrecords.scan_tfrecords([path], 8, skip_corrupt=True) == (2, [(0, 1), (0, 3)])


def test_label_out_of_range(tmp_path):
    path = tfrecords.write_tfrecords(_images(3), [0, 1, 7], str(tmp_path / "l"))[0]
    with pytest.raises(ValueError, match="Record 2 .* label 7, out of range for num_classes=5"):
        tfrecords.tfrecord_source(path, 8, num_classes=5)


def test_missing_feature_key(tmp_path):
    path = tfrecords.write_tfrecords(_images(1), [0], str(tmp_path / "k"))[0]
    with pytest.raises(ValueError, match="no feature 'image'; its features are"):
        tfrecords.tfrecord_source(path, 8, image_key="image")


def test_too_small_image(tmp_path):
    path = tfrecords.write_tfrecords(_images(2, shape=(6, 20, 3)), [0, 1], str(tmp_path / "t"))[0]
    with pytest.raises(ValueError, match="Record 0 .* 20x6 .* resolution 8.*allow_upscale"):
        tfrecords.tfrecord_source(path, 8)
    assert len(list(tfrecords.tfrecord_source(path, 8, allow_upscale=True))) == 2


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="`image_format` must be one of .* got 'gif'"):
        tfrecords.write_tfrecords(_images(1), [0], str(tmp_path / "w"), image_format="gif")
    with pytest.raises(ValueError, match="one label per image \\(2 images\\), got shape \\(3,\\)"):
        tfrecords.write_tfrecords(_images(2), [0, 1, 2], str(tmp_path / "w"))
    with pytest.raises(ValueError, match="uint8 array .* got dtype float32"):
        tfrecords.write_tfrecords(np.zeros((1, 4, 4, 3), np.float32), [0], str(tmp_path / "w"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
