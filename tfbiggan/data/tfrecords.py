"""TFRecord source of encoded images (`tf.train.Example` with image bytes and an int64 label).

The default keys follow the ImageNet TFRecord convention (`image/encoded`,
`image/class/label`); both are configurable. `write_tfrecords` writes such files.
"""

import io
import os

from absl import logging
import numpy as np
import tensorflow as tf

from tfbiggan.data import folder
from tfbiggan.data import preprocessing
from tfbiggan.data import sharding

DEFAULT_IMAGE_KEY = "image/encoded"
DEFAULT_LABEL_KEY = "image/class/label"
_IMAGE_FORMATS = ("png", "jpeg")
_RECORD_KEY_BASE = 2 ** 32  # Record ids are file_index * base + record_index.


def write_tfrecords(images, labels, path, *, image_format="png", num_shards=1,
                    image_key=DEFAULT_IMAGE_KEY, label_key=DEFAULT_LABEL_KEY):
    """Writes images and labels as `tf.train.Example` records of encoded images.

    Args:
      images: uint8 array [N, H, W, C] (C in {1, 3, 4}; 4 only for PNG), or a sequence of N
        uint8 arrays [H, W, C] of varying sizes.
      labels: N integer labels.
      path: output file; with `num_shards > 1`, files `{path}-00000-of-0000n` and so on.
      image_format: "png" (lossless) or "jpeg".
      num_shards: number of files; examples are dealt round-robin.
      image_key: feature name of the encoded image bytes.
      label_key: feature name of the int64 label.

    Returns:
      The list of written file paths.

    Example:
      >>> images = np.zeros([4, 16, 16, 3], np.uint8)
      >>> write_tfrecords(images, [0, 1, 0, 1], "/tmp/tiny.tfrecord")
      ['/tmp/tiny.tfrecord']
    """
    if image_format not in _IMAGE_FORMATS:
        raise ValueError(
            f"`image_format` must be one of {_IMAGE_FORMATS}, got {image_format!r}.")
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"`num_shards` must be a positive integer, got {num_shards!r}.")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"`labels` must be 1-D with one label per image ({len(images)} images), got "
            f"shape {labels.shape}.")
    if num_shards == 1:
        paths = [path]
    else:
        paths = [f"{path}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]
    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for index, (image, label) in enumerate(zip(images, labels)):
            image = np.asarray(image)
            if image.dtype != np.uint8 or image.ndim != 3:
                raise ValueError(
                    f"Image {index} must be a uint8 array [H, W, C], got dtype {image.dtype} "
                    f"and shape {image.shape}.")
            if image_format == "png":
                encoded = tf.io.encode_png(image).numpy()
            else:
                encoded = tf.io.encode_jpeg(image, quality=95).numpy()
            example = tf.train.Example(features=tf.train.Features(feature={
                image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }))
            writers[index % num_shards].write(example.SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    return paths


def list_tfrecord_files(path):
    """Sorted TFRecord files named by `path`: a file, a glob pattern, or a directory."""
    if tf.io.gfile.isdir(path):
        files = [os.path.join(path, name) for name in tf.io.gfile.listdir(path)
                 if not tf.io.gfile.isdir(os.path.join(path, name))]
    else:
        files = tf.io.gfile.glob(path)
    if not files:
        raise FileNotFoundError(
            f"No TFRecord files found at {path!r}; accepted: a file, a glob pattern such as "
            "'/data/train-*', or a directory of TFRecord files.")
    return sorted(files)


def _record_problem(example, where, image_key, label_key, resolution, num_classes,
                    allow_upscale):
    """Returns None for a good record, a reason for an unreadable image; raises otherwise."""
    features = example.features.feature
    for key in (image_key, label_key):
        if key not in features:
            raise ValueError(
                f"{where} has no feature {key!r}; its features are {sorted(features)}. Set "
                "`image_key` / `label_key` to the names used in the files.")
    labels = features[label_key].int64_list.value
    if len(labels) != 1:
        raise ValueError(f"{where}: feature {label_key!r} must hold one int64 label, got "
                         f"{list(labels)!r}.")
    label = labels[0]
    if label < 0 or (num_classes is not None and label >= num_classes):
        raise ValueError(
            f"{where} has label {label}, out of range for num_classes={num_classes}; "
            f"accepted: 0 <= label < {num_classes}.")
    values = features[image_key].bytes_list.value
    if len(values) != 1 or not values[0]:
        return "the encoded image is missing or empty"
    size = folder.image_size_or_reason(io.BytesIO(values[0]))
    if isinstance(size, str):
        return size
    folder.check_short_side(f"{where} holds a {size[0]}x{size[1]} (width x height) image", size,
                            resolution, allow_upscale,
                            "Set allow_upscale=True to upsample small images.")
    return None


def scan_tfrecords(files, resolution=None, *, num_classes=None, image_key=DEFAULT_IMAGE_KEY,
                   label_key=DEFAULT_LABEL_KEY, skip_corrupt=False, allow_upscale=False):
    """Reads every record once and checks keys, labels and image headers (PIL).

    Args:
      files: TFRecord paths.
      resolution: target resolution for the size check (None: no check).
      num_classes: labels must lie in [0, num_classes) (None: only >= 0).
      image_key: feature name of the encoded image.
      label_key: feature name of the label.
      skip_corrupt: collect unreadable images instead of failing.
      allow_upscale: accept images smaller than `resolution`.

    Returns:
      (number of good records, list of (file index, record index) of skipped records).

    Example:
      >>> scan_tfrecords(["/tmp/tiny.tfrecord"], 16, num_classes=2)
      (4, [])
    """
    good, skipped = 0, []
    for file_index, file in enumerate(files):
        for record_index, record in enumerate(tf.data.TFRecordDataset(file)):
            where = f"Record {record_index} of TFRecord file {file!r}"
            try:
                example = tf.train.Example.FromString(record.numpy())
            except Exception as error:  # pylint: disable=broad-except  (protobuf DecodeError)
                problem = f"not a tf.train.Example ({error})"
            else:
                problem = _record_problem(example, where, image_key, label_key, resolution,
                                          num_classes, allow_upscale)
            if problem is None:
                good += 1
            elif skip_corrupt:
                skipped.append((file_index, record_index))
            else:
                raise ValueError(
                    f"{where} cannot be read ({problem}); accepted: JPEG, PNG or BMP bytes. "
                    "Set skip_corrupt=True to skip such records.")
    return good, skipped


def tfrecord_source(path, resolution=None, *, num_classes=None, image_key=DEFAULT_IMAGE_KEY,
                    label_key=DEFAULT_LABEL_KEY, skip_corrupt=False, allow_upscale=False,
                    validate=True, input_context=None, shuffle_seed=None):
    """A dataset of (uint8 RGB image [H, W, 3], int32 label) from TFRecords of encoded images.

    Args:
      path: a TFRecord file, glob pattern, or directory of TFRecord files.
      resolution: target resolution for the up-front size check (None: no check).
      num_classes: labels must lie in [0, num_classes) (None: not checked up front).
      image_key: feature name of the encoded image bytes.
      label_key: feature name of the int64 label.
      skip_corrupt: skip unreadable images (counted and logged when `validate`; otherwise
        decoding errors are dropped by `ignore_errors`, which logs each one).
      allow_upscale: accept images smaller than `resolution`.
      validate: read all records once up front (`scan_tfrecords`) so bad records are named
        before training. Turn off for very large datasets.
      input_context: optional `tf.distribute.InputContext`; pipelines read disjoint files
        when there are enough files, else disjoint records.
      shuffle_seed: if not None, the file order is shuffled (afresh each epoch).

    Returns:
      A `tf.data.Dataset`.

    Example:
      >>> ds = tfrecord_source("/data/imagenet/train-*", resolution=128, validate=False)
    """
    files = list_tfrecord_files(path)
    skipped = []
    if validate:
        good, skipped = scan_tfrecords(
            files, resolution, num_classes=num_classes, image_key=image_key,
            label_key=label_key, skip_corrupt=skip_corrupt, allow_upscale=allow_upscale)
        if skipped:
            logging.warning("Skipped %d unreadable record(s) in the TFRecords at %s.",
                            len(skipped), path)
        logging.info("TFRecords at %s: %d files, %d good records.", path, len(files), good)
        empty = good == 0
    else:
        empty = not any(True for _ in tf.data.TFRecordDataset(files).take(1))
    if empty:
        raise ValueError(
            f"The TFRecords at {path!r} ({len(files)} file(s)) hold no usable records"
            f"{f' ({len(skipped)} skipped as unreadable)' if skipped else ''}; at least one "
            "is needed.")

    pipelines = sharding.num_pipelines(input_context)
    shard_files = len(files) >= pipelines
    dataset = tf.data.Dataset.from_tensor_slices(
        (files, tf.range(len(files), dtype=tf.int64)))
    if shard_files:
        dataset = sharding.shard(dataset, input_context)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=True)

    def read_file(file, file_index):
        records = tf.data.TFRecordDataset(file).enumerate()
        return records.map(lambda index, record: (file_index * _RECORD_KEY_BASE + index, record))

    dataset = dataset.interleave(read_file, cycle_length=min(len(files), 16),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if skipped:
        bad = tf.constant([f * _RECORD_KEY_BASE + r for f, r in skipped], tf.int64)
        dataset = dataset.filter(lambda key, record: tf.reduce_all(tf.not_equal(key, bad)))
    if not shard_files:
        dataset = sharding.shard(dataset, input_context)
    spec = {image_key: tf.io.FixedLenFeature([], tf.string),
            label_key: tf.io.FixedLenFeature([], tf.int64)}

    def decode(key, record):
        del key
        example = tf.io.parse_single_example(record, spec)
        image = tf.io.decode_image(example[image_key], channels=0, expand_animations=False)
        return preprocessing.to_rgb(image), tf.cast(example[label_key], tf.int32)

    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if skip_corrupt and not validate:
        dataset = dataset.ignore_errors(log_warning=True)
    return dataset
