"""Training input pipelines: source -> BigGAN preprocessing -> shuffle -> repeat -> batch.

Batches have static shapes (`drop_remainder=True`), as XLA and TPUs require (SPEC §4), and
are distributed with `strategy.distribute_datasets_from_function`, each input pipeline reading
its own shard and batching the per-replica batch size.
"""

import random

import ml_collections
import tensorflow as tf
from ml_collections import config_dict

from tfbiggan.data import preprocessing
from tfbiggan.data import sources
from tfbiggan.data import tfrecords


def default_config():
    """The default data config; experiment configs embed and override it.

    Fields:
      source: "tfds", "folder", "tfrecord", "idx" (MNIST-family IDX files) or "digits" (the
        bundled digits, no download).
      name: TFDS dataset name (source "tfds"), e.g. "imagenet2012"; for source "idx", a
        named IDX dataset ("fashion_mnist": Debian's files, or TFDS's when prepared).
      data_dir: TFDS data directory (None: TFDS default).
      manual_dir: manually downloaded archives for TFDS (imagenet2012).
      download: let TFDS download a dataset that is not prepared yet.
      path: image folder root (source "folder"), TFRecord file / glob / directory, or for
        "idx" a directory of IDX files or "IMAGES_FILE,LABELS_FILE".
      split: TFDS split or slice; "train" or "test" for IDX data.
      num_classes: number of classes of the model; labels must lie in [0, num_classes).
        None: not checked.
      channels: 3 (RGB) or 1 (grey: the generator's output and the discriminator's input
        then have one channel).
      fit: "crop_resize" (centre crop and area resize, BigGAN's ImageNet preprocessing) or
        "pad" (centred on a black canvas, every pixel kept: 28×28 MNIST-family images → 32).
      random_flip: random horizontal flips (seeded).
      shuffle_buffer: examples in the shuffle buffer (preprocessed float32 [R, R, 3] images,
        so memory grows with R); 0 or 1 disables buffer shuffling.
      skip_corrupt: skip (and count) unreadable images instead of failing.
      allow_upscale: accept images smaller than the resolution (they are upsampled).
      image_key, label_key: TFRecord feature names.
      validate: read TFRecords once up front to name bad records before training.

    Returns:
      An `ml_collections.ConfigDict`.

    Example:
      >>> config = default_config()
      >>> config.source, config.path = "folder", "/data/flowers"
    """
    # Fields without a default are typed placeholders (None until set), so that a locked
    # experiment config accepts them on the command line, e.g. --config.data.pipeline.path=...
    return ml_collections.ConfigDict({
        "source": "digits",
        "name": config_dict.placeholder(str),
        "data_dir": config_dict.placeholder(str),
        "manual_dir": config_dict.placeholder(str),
        "download": False,
        "path": config_dict.placeholder(str),
        "split": "train",
        "num_classes": config_dict.placeholder(int),
        "channels": 3,
        "fit": "crop_resize",
        "random_flip": True,
        "shuffle_buffer": 4096,
        "skip_corrupt": False,
        "allow_upscale": False,
        "image_key": tfrecords.DEFAULT_IMAGE_KEY,
        "label_key": tfrecords.DEFAULT_LABEL_KEY,
        "validate": True,
    })


def resolve_config(config=None, **overrides):
    """`default_config()` updated with `config` (ConfigDict or dict) and keyword overrides.

    Args:
      config: a ConfigDict or dict of data fields, or None.
      **overrides: more fields.

    Returns:
      A new, validated `ml_collections.ConfigDict`.

    Example:
      >>> resolve_config(source="folder", path="/data/flowers").source
      'folder'
    """
    resolved = ml_collections.ConfigDict(default_config().to_dict())  # Untyped: any value.
    fields = dict(config.items()) if config is not None else {}
    fields.update(overrides)
    unknown = sorted(set(fields) - set(resolved.keys()))
    if unknown:
        raise ValueError(
            f"Unknown data config field(s) {unknown}; accepted: {sorted(resolved.keys())}.")
    for key, value in fields.items():
        resolved[key] = value
    if resolved.source not in sources.SOURCES:
        raise ValueError(f"Unknown data source {resolved.source!r}; accepted: "
                         f"{', '.join(sources.SOURCES)}.")
    num_classes = resolved.num_classes
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(
            f"`num_classes` must be a positive integer or None, got {num_classes!r}.")
    if resolved.channels not in preprocessing.CHANNELS:
        raise ValueError(f"`channels` must be 1 (grey) or 3 (RGB), got {resolved.channels!r}.")
    if resolved.fit not in preprocessing.FITS:
        raise ValueError(f"`fit` must be one of {', '.join(preprocessing.FITS)}, got "
                         f"{resolved.fit!r}.")
    buffer = resolved.shuffle_buffer
    if not isinstance(buffer, int) or isinstance(buffer, bool) or buffer < 0:
        raise ValueError(f"`shuffle_buffer` must be an integer >= 0, got {buffer!r}.")
    for key in ("random_flip", "skip_corrupt", "allow_upscale", "download", "validate"):
        if not isinstance(resolved[key], bool):
            raise ValueError(f"`{key}` must be True or False, got {resolved[key]!r}.")
    return resolved


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _check_label(label, num_classes):
    if num_classes is None:
        return label
    check = tf.debugging.Assert(
        tf.logical_and(label >= 0, label < num_classes),
        ["label out of range; accepted 0 <= label < num_classes =", num_classes,
         "; got label", label])
    with tf.control_dependencies([check]):
        return tf.identity(label)


def make_dataset(config, resolution, global_batch_size, seed=None, input_context=None,
                 repeat=True):
    """Batches of BigGAN-preprocessed examples for training.

    Pipeline: source (sharded per input pipeline) -> crop / resize / scale -> shuffle ->
    repeat -> seeded random flip -> batch (drop_remainder) -> prefetch.

    Args:
      config: data config (`default_config()` fields; ConfigDict, dict, or None).
      resolution: image side R.
      global_batch_size: batch size summed over all replicas.
      seed: integer seed for shuffling and flips (None: a random seed, not reproducible).
      input_context: a `tf.distribute.InputContext` (from `distribute`), or None. The batch
        is then the per-replica batch `global_batch_size / num_replicas_in_sync`.

      repeat: repeat the data forever (training); False: one pass.

    Returns:
      A `tf.data.Dataset` (infinite unless `repeat=False`) of (float32 images
      [B, R, R, channels] in [-1, 1], int32 labels [B]).

    Example:
      >>> ds = make_dataset({"source": "digits"}, resolution=32, global_batch_size=16, seed=0)
      >>> images, labels = next(iter(ds))
    """
    config = resolve_config(config)
    _check_positive_int("resolution", resolution)
    _check_positive_int("global_batch_size", global_batch_size)
    batch_size, pipeline_id, pipelines = global_batch_size, 0, 1
    if input_context is not None:
        replicas = input_context.num_replicas_in_sync
        if global_batch_size % replicas:
            raise ValueError(
                f"`global_batch_size` {global_batch_size} is not divisible by the "
                f"{replicas} replicas; accepted: a multiple of {replicas}.")
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        pipeline_id = input_context.input_pipeline_id
        pipelines = input_context.num_input_pipelines
    if seed is None:
        seed = random.SystemRandom().randrange(2 ** 31)
    elif not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"`seed` must be an integer or None, got {seed!r}.")

    dataset = sources.make_source(config, resolution, input_context=input_context,
                                  shuffle_seed=seed)

    def preprocess(image, label):
        image = preprocessing.preprocess_image(image, resolution,
                                               allow_upscale=config.allow_upscale,
                                               channels=config.channels, fit=config.fit)
        return image, _check_label(label, config.num_classes)

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    if config.shuffle_buffer > 1:
        dataset = dataset.shuffle(config.shuffle_buffer, seed=seed,
                                  reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if config.random_flip:
        def flip(index, example):
            image, label = example
            # One stateless seed per example and pipeline: reproducible, fresh every epoch.
            example_seed = tf.stack([tf.constant(seed, tf.int64), index * pipelines + pipeline_id])
            return preprocessing.random_flip(image, example_seed), label

        dataset = dataset.enumerate().map(flip, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=repeat)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def distribute(strategy, config, resolution, global_batch_size, seed=None):
    """A distributed dataset: `make_dataset` per input pipeline, per-replica batches.

    Args:
      strategy: a `tf.distribute.Strategy`.
      config: data config (see `default_config`).
      resolution: image side R.
      global_batch_size: batch size over all replicas; must be divisible by
        `strategy.num_replicas_in_sync`.
      seed: integer seed (None: random).

    Returns:
      A `tf.distribute.DistributedDataset` whose per-replica batches hold
      `global_batch_size / num_replicas_in_sync` examples.

    Example:
      >>> strategy = tf.distribute.MirroredStrategy()
      >>> ds = distribute(strategy, {"source": "digits"}, 32, global_batch_size=64, seed=0)
      >>> images, labels = next(iter(ds))
    """
    _check_positive_int("global_batch_size", global_batch_size)
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(
            f"`global_batch_size` {global_batch_size} is not divisible by the {replicas} "
            f"replicas of the strategy; accepted: a multiple of {replicas}.")
    config = resolve_config(config)
    return strategy.distribute_datasets_from_function(
        lambda input_context: make_dataset(config, resolution, global_batch_size, seed,
                                           input_context=input_context))
