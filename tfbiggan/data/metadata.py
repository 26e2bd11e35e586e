"""Metadata of a data config: the class names, for config.json, exports and sample sheets.

Each source has a reader in `READERS`: a function of the resolved data config that returns the
names of classes 0, 1, ... or None when the data carries none. A new source registers its own
with `register_reader`; sources without a reader have no names.

    digits     "0" ... "9"
    folder     the sorted class sub-folder names (the order that gives the labels)
    tfds       the `ClassLabel` names of the label feature in the dataset's metadata
    tfrecord   none (the records hold ids only)
    idx        a named IDX data set's names (Fashion-MNIST's ten), else none
"""

import os

from absl import logging

from tfbiggan.data import digits
from tfbiggan.data import idx
from tfbiggan.data import pipeline

READERS = {}


def register_reader(source, reader):
    """Registers `reader(config) -> list of names or None` for the data source `source`.

    Example:
      >>> register_reader("idx", lambda config: list(FASHION_NAMES))
    """
    if not callable(reader):
        raise ValueError(f"`reader` must be callable, got {reader!r}.")
    READERS[source] = reader


def class_names(config, num_classes=None):
    """The class names of a data config, or None when its source has none.

    Args:
      config: a data config (see `tfbiggan.data.default_config`; ConfigDict, dict or None).
      num_classes: the model's number of classes. Fewer names are completed with the ids of
        the remaining classes (which the data never uses), so there is one name per class.

    Returns:
      A list of `num_classes` strings (or as many as the data has), or None.

    Example:
      >>> class_names({"source": "folder", "path": "/data/fashion"}, num_classes=10)
      ['bag', 'boot', 'coat', ...]
    """
    config = pipeline.resolve_config(config)
    reader = READERS.get(config.source)
    names = reader(config) if reader is not None else None
    if not names:
        return None
    names = [str(name) for name in names]
    if num_classes is not None:
        if len(names) > num_classes:
            logging.warning("The data has %d class names but the model %d classes; keeping "
                            "the first %d.", len(names), num_classes, num_classes)
            names = names[:num_classes]
        names += [str(index) for index in range(len(names), num_classes)]
    return names


def _digits_names(config):
    del config
    return [str(digit) for digit in range(digits.NUM_CLASSES)]


def _folder_names(config):
    path = os.path.expanduser(config.path or "")
    if not os.path.isdir(path):
        return None  # The source itself reports the missing folder.
    return sorted(name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name)))


def _tfds_names(config):
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    if not config.name:
        return None
    try:
        info = tfds.builder(config.name, data_dir=config.data_dir).info
    except (tfds.core.registered.DatasetNotFoundError, ValueError, OSError) as error:
        logging.warning("No class names from TFDS dataset %r: %s", config.name, error)
        return None
    keys = info.supervised_keys
    if not (isinstance(keys, tuple) and len(keys) == 2 and isinstance(keys[1], str)):
        return None
    feature = info.features[keys[1]]
    return list(feature.names) if isinstance(feature, tfds.features.ClassLabel) else None


def _idx_names(config):
    named = idx.NAMED.get(config.name)
    return list(named.class_names) if named is not None else None


register_reader("digits", _digits_names)
register_reader("idx", _idx_names)
register_reader("folder", _folder_names)
register_reader("tfds", _tfds_names)
