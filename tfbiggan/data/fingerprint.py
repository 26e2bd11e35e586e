"""A fingerprint of what a data config's examples are: the settings and the files behind them.

Cached statistics of real images (FID references, features) are keyed by it, so two data sets
with the same folder name, or a folder whose files were edited, never share a cache entry.
The files are fingerprinted by path, size and modification time (not by content: reading a
large data set for a cache key would cost as much as the statistics).
"""

import hashlib
import json
import os

import tensorflow as tf

from tfbiggan.data import folder
from tfbiggan.data import idx
from tfbiggan.data import pipeline
from tfbiggan.data import sources
from tfbiggan.data import tfrecords


def data_files(config):
    """The files a resolved data config reads, sorted (empty when unknown, e.g. no TFDS copy).

    Args:
      config: a data config (`tfbiggan.data.default_config()` fields).

    Example:
      >>> data_files({"source": "folder", "path": "/data/flowers"})[:1]
      ['/data/flowers/daisy/1.jpg']
    """
    config = pipeline.resolve_config(config)
    source, path = config.source, config.path and os.path.expanduser(config.path)
    if source == "digits":
        import sklearn.datasets  # pylint: disable=import-outside-toplevel
        data = os.path.join(os.path.dirname(sklearn.datasets.__file__), "data")
        return [os.path.join(data, "digits.csv.gz")]
    if source == "folder":
        return sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                      for name in names if name.lower().endswith(folder.IMAGE_EXTENSIONS))
    if source == "tfrecord":
        return tfrecords.list_tfrecord_files(path)
    if source == "idx":
        files = sources.idx_files(path, config.name, config.split, config.data_dir)
        if files is not None:
            return sorted(files)
        name = idx.NAMED[config.name].tfds_name
    else:
        name = config.name
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    builder = tfds.builder(name, data_dir=config.data_dir)
    if not builder.is_prepared():
        return []
    return sorted(tf.io.gfile.glob(os.path.join(builder.data_dir, "*")))


def data_fingerprint(config, **extra):
    """Hex digest of a data config's settings, its files (path, size, mtime) and `extra`.

    Args:
      config: a data config.
      **extra: more JSON-serialisable values that determine the examples (e.g. resolution,
        seed, number of examples).

    Example:
      >>> data_fingerprint({"source": "digits"}, resolution=32)[:8]
    """
    config = pipeline.resolve_config(config)
    digest = hashlib.sha256()
    digest.update(json.dumps({"config": config.to_dict(), "extra": extra}, sort_keys=True,
                             default=str).encode())
    for path in data_files(config):
        stat = tf.io.gfile.stat(path)
        digest.update(f"\n{path}\t{stat.length}\t{stat.mtime_nsec}".encode())
    return digest.hexdigest()
