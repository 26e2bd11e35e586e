"""Example sources: TFDS by name, IDX files, the bundled digits, and dispatch on a data config.

Every source returns a `tf.data.Dataset` of (image, int32 label) examples with images of
shape [H, W, C]: uint8 RGB for decoded files (TFDS, folder, TFRecord), uint8 grey [H, W, 1]
for IDX files, float32 RGB in [0, 1] for the digits. `tfbiggan.data.pipeline` turns them into
training batches with the configured number of channels.
"""

import difflib
import os

from absl import logging
import tensorflow as tf
import tensorflow_datasets as tfds

from tfbiggan.data import digits
from tfbiggan.data import folder
from tfbiggan.data import idx
from tfbiggan.data import preprocessing
from tfbiggan.data import sharding
from tfbiggan.data import tfrecords

SOURCES = ("tfds", "folder", "tfrecord", "idx", "digits")


def _check_tfds_name(name):
    base = name.split(":")[0].split("/")[0]
    # TFDS's own builders only: listing community datasets reads (and may fetch) a package
    # index under ~/.cache, which a sandbox or an offline machine does not have.
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        close = difflib.get_close_matches(base, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown TFDS dataset name {name!r}: accepted are the names listed by "
            f"`tfds.list_builders()` (optionally with ':version' or '/config').{hint}")


def tfds_source(name, split="train", *, data_dir=None, manual_dir=None, download=False,
                num_classes=None, input_context=None, shuffle_seed=None):
    """A dataset of (uint8 RGB image [H, W, 3], int32 label) from a TFDS dataset.

    Uses the dataset's `as_supervised` (image, label) keys. Images are read encoded and
    decoded after sharding. Nothing is downloaded unless `download=True`; `imagenet2012`
    is prepared from the archives in `manual_dir` (no internet needed).

    Args:
      name: TFDS name, e.g. "imagenet2012" or "cifar10:3.0.2".
      split: split or slice, e.g. "train" or "train[:10%]".
      data_dir: TFDS data directory (None: the TFDS default).
      manual_dir: directory of manually downloaded archives (imagenet2012).
      download: allow `download_and_prepare` to fetch data when it is not prepared yet.
      num_classes: the model's number of classes; the dataset's label count must not exceed it.
      input_context: optional `tf.distribute.InputContext` for per-pipeline sharding.
      shuffle_seed: if not None, file order is shuffled with this seed.

    Returns:
      A `tf.data.Dataset`.

    Example:
      >>> ds = tfds_source("imagenet2012", "train", data_dir="/data/tfds",
      ...                  manual_dir="/data/imagenet_archives")
    """
    _check_tfds_name(name)
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if manual_dir is not None and not tf.io.gfile.isdir(manual_dir):
            raise FileNotFoundError(
                f"`manual_dir` {manual_dir!r} for TFDS dataset {name!r} does not exist; it "
                "must be the directory holding the manually downloaded archives.")
        if manual_dir is None and not download:
            raise FileNotFoundError(
                f"TFDS dataset {name!r} is not prepared (looked in {builder.data_dir!r}). "
                "Prepare it there (`tfds build`), pass `manual_dir` for manually downloaded "
                "archives, or set download=True.")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    info = builder.info
    keys = info.supervised_keys
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) for k in keys)):
        raise ValueError(
            f"TFDS dataset {name!r} has supervised keys {keys!r}; accepted: datasets with "
            "(image, label) supervised keys.")
    image_key, label_key = keys
    try:
        num_examples = info.splits[split].num_examples
    except (KeyError, ValueError) as error:
        raise ValueError(
            f"Unknown split {split!r} for TFDS dataset {name!r}; accepted: "
            f"{sorted(info.splits.keys())} or slices of them such as 'train[:10%]'.") from error
    if num_examples == 0:
        raise ValueError(
            f"Split {split!r} of TFDS dataset {name!r} is empty; at least one example is "
            "needed.")
    label_feature = info.features[label_key]
    dataset_classes = getattr(label_feature, "num_classes", None)
    if num_classes is not None and dataset_classes is not None and dataset_classes > num_classes:
        raise ValueError(
            f"TFDS dataset {name!r} has {dataset_classes} classes, so labels reach "
            f"{dataset_classes - 1}, out of range for num_classes={num_classes}; accepted: "
            f"num_classes >= {dataset_classes}.")

    pipelines = sharding.num_pipelines(input_context)
    num_shards = getattr(info.splits[split], "num_shards", 0) or 0
    shard_files = pipelines > 1 and num_shards >= pipelines
    read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed,
                                  input_context=input_context if shard_files else None)
    decoders = None
    if isinstance(info.features[image_key], tfds.features.Image):
        decoders = {image_key: tfds.decode.SkipDecoding()}
    dataset = builder.as_dataset(split=split, as_supervised=True, decoders=decoders,
                                 shuffle_files=shuffle_seed is not None,
                                 read_config=read_config)
    if not shard_files:
        dataset = sharding.shard(dataset, input_context, what=f"TFDS split {name}[{split}]",
                                 size=num_examples)

    def decode(image, label):
        if image.dtype == tf.string:
            image = tf.io.decode_image(image, channels=0, expand_animations=False)
        return preprocessing.to_rgb(image), tf.cast(label, tf.int32)

    logging.info("TFDS %s[%s]: %d examples.", name, split, num_examples)
    return dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def digits_source(resolution, *, num_classes=None, input_context=None, shuffle_seed=None):
    """A dataset of (float32 RGB image [R, R, 3] in [0, 1], int32 label) of the bundled digits.

    Args:
      resolution: image side R (the 8x8 digits are resized bilinearly; >= 8).
      num_classes: the model's number of classes; must be at least 10.
      input_context: optional `tf.distribute.InputContext` for per-pipeline sharding.
      shuffle_seed: if not None, the examples are shuffled (afresh each epoch).

    Returns:
      A `tf.data.Dataset` of 1,797 examples (fewer per pipeline when sharded).

    Example:
      >>> ds = digits_source(32)
    """
    if num_classes is not None and num_classes < digits.NUM_CLASSES:
        raise ValueError(
            f"The digits have {digits.NUM_CLASSES} classes (labels 0..9), out of range for "
            f"num_classes={num_classes}; accepted: num_classes >= {digits.NUM_CLASSES}.")
    images, labels = digits.load_digits_images(resolution, channels=3)
    images = (images + 1.0) * 0.5
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = sharding.shard(dataset, input_context, what="The digits", size=len(labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset


def idx_files(path=None, name=None, split="train", data_dir=None):
    """(images file, labels file) of an IDX data config, or None for a prepared TFDS copy.

    `path` is a directory of MNIST-family files (the split picks the files) or
    "IMAGES_FILE,LABELS_FILE"; without it, `name` must be a named IDX dataset
    (`tfbiggan.data.idx.NAMED`), looked for in its environment variable's directory and its
    known directories (Debian's `/usr/share/datasets/fashion-mnist`), then as a prepared TFDS
    dataset in `data_dir` (None is returned then).

    Raises:
      ValueError: neither a path nor a known name.
      FileNotFoundError: the files are not found; the message says how to get them.
    """
    if path:
        parts = [os.path.expanduser(p.strip()) for p in str(path).split(",")]
        if len(parts) == 2:
            return parts[0], parts[1]
        if len(parts) == 1:
            return idx.find_split_files(parts[0], split)
        raise ValueError(f"`path` of an IDX source must be a directory or "
                         f"'IMAGES_FILE,LABELS_FILE', got {path!r}.")
    if name not in idx.NAMED:
        raise ValueError(f"Data source 'idx' needs `path` (a directory of IDX files or "
                         f"'IMAGES_FILE,LABELS_FILE') or a known `name` "
                         f"({', '.join(sorted(idx.NAMED))}), got path={path!r}, name={name!r}.")
    dataset = idx.NAMED[name]
    directory = idx.named_directory(dataset)
    if directory is not None:
        return idx.find_split_files(directory, split)
    if tfds.builder(dataset.tfds_name, data_dir=data_dir).is_prepared():
        return None
    looked = [f"${dataset.environment_variable}", *dataset.directories]
    raise FileNotFoundError(
        f"{name} was not found (looked in {', '.join(looked)} and for a prepared TFDS "
        f"{dataset.tfds_name!r}): {dataset.install_hint}.")


def idx_source(path=None, name=None, split="train", *, data_dir=None, download=False,
               num_classes=None, input_context=None, shuffle_seed=None):
    """A dataset of (uint8 grey image [H, W, 1], int32 label) from MNIST-family IDX files.

    Args:
      path: a directory of IDX files (`train-images-idx3-ubyte.gz`, ...) or
        "IMAGES_FILE,LABELS_FILE".
      name: a named IDX dataset ("fashion_mnist") when `path` is None: Debian's files, or
        TFDS's copy when it is prepared (or `download=True`).
      split: "train" or "test".
      data_dir: TFDS data directory for the TFDS fallback.
      download: let TFDS download the named dataset when no files are found.
      num_classes: the model's number of classes: labels must lie below it.
      input_context: optional `tf.distribute.InputContext` for per-pipeline sharding.
      shuffle_seed: if not None, the examples are shuffled (afresh each epoch).

    Returns:
      A `tf.data.Dataset`. The files are read and checked (magic numbers, sizes, counts,
      label range) before it is built, so bad files are named before training.

    Example:
      >>> ds = idx_source(name="fashion_mnist", split="train")
    """
    try:
        files = idx_files(path, name, split, data_dir)
    except FileNotFoundError:
        if not (download and not path and name in idx.NAMED):
            raise
        files = None
    if files is None:  # The TFDS copy of a named dataset.
        return tfds_source(idx.NAMED[name].tfds_name, split, data_dir=data_dir,
                           download=download, num_classes=num_classes,
                           input_context=input_context, shuffle_seed=shuffle_seed)
    images, labels = idx.load_idx_split(*files, num_classes=num_classes)
    logging.info("IDX %s: %d images of %s.", files[0], len(labels), list(images.shape[1:]))
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = sharding.shard(dataset, input_context, what=f"IDX file {files[0]}",
                             size=len(labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset


def make_source(config, resolution, *, input_context=None, shuffle_seed=None):
    """The source named by `config.source`, configured from the data config.

    Args:
      config: data config (see `tfbiggan.data.pipeline.default_config`).
      resolution: target resolution, used for up-front size checks.
      input_context: optional `tf.distribute.InputContext`.
      shuffle_seed: seed for shuffling the file order (None: no shuffling).

    Returns:
      A `tf.data.Dataset` of (image [H, W, 3], int32 label).

    Example:
      >>> ds = make_source(default_config(), 32)
    """
    source = config.source
    if source not in SOURCES:
        raise ValueError(f"Unknown data source {source!r}; accepted: {', '.join(SOURCES)}.")
    common = dict(num_classes=config.num_classes, input_context=input_context,
                  shuffle_seed=shuffle_seed)
    if source == "digits":
        return digits_source(resolution, **common)
    if source == "idx":
        return idx_source(config.path, config.name, config.split, data_dir=config.data_dir,
                          download=config.download, **common)
    if source == "tfds":
        if not config.name:
            raise ValueError("Data source 'tfds' needs `name` (a TFDS dataset name such as "
                             f"'imagenet2012'), got {config.name!r}.")
        return tfds_source(config.name, config.split, data_dir=config.data_dir,
                           manual_dir=config.manual_dir, download=config.download, **common)
    if not config.path:
        raise ValueError(f"Data source {source!r} needs `path`, got {config.path!r}.")
    path = os.path.expanduser(config.path)
    checks = dict(skip_corrupt=config.skip_corrupt, allow_upscale=config.allow_upscale)
    if source == "folder":
        return folder.folder_source(path, resolution, **checks, **common)
    return tfrecords.tfrecord_source(path, resolution, image_key=config.image_key,
                                     label_key=config.label_key, validate=config.validate,
                                     **checks, **common)
