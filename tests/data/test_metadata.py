"""Class names of data configs (`tfbiggan.data.class_names`): digits, image folders, TFDS
metadata, sources without names, and the registry other sources plug into."""

import sys

import pytest
import tensorflow_datasets as tfds

from tests import conftest  # noqa: F401  (two logical CPU devices)
from tfbiggan import data
from tfbiggan.data import metadata

NAME = "tfbiggan_tiny_named"
TFDS_NAMES = ["cat", "dog", "eel"]


def _builder_class():
    """A tiny TFDS builder whose label feature has names (registered once per process)."""
    try:
        return tfds.builder_cls(NAME)
    except tfds.core.registered.DatasetNotFoundError:
        pass

    class TfbigganTinyNamed(tfds.core.GeneratorBasedBuilder):
        """Three 4×4 images labelled cat, dog, eel."""
        VERSION = tfds.core.Version("1.0.0")
        code_path = None

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(4, 4, 3)),
                    "label": tfds.features.ClassLabel(names=TFDS_NAMES)}),
                supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            import numpy as np  # pylint: disable=import-outside-toplevel
            for index in range(3):
                yield index, {"image": np.full((4, 4, 3), index, np.uint8), "label": index}

    return TfbigganTinyNamed


def test_digits_names():
    assert data.class_names({"source": "digits"}) == [str(d) for d in range(10)]


def test_idx_names_of_named_data_sets():
    assert data.class_names({"source": "idx", "name": "fashion_mnist"}) == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
        "Bag", "Ankle boot"]
    assert data.class_names({"source": "idx", "path": "/any/mnist"}) is None


def test_folder_names_are_the_sorted_sub_folders_that_give_the_labels(tmp_path):
    for name in ("coat", "bag", "boot"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("not a class")
    config = {"source": "folder", "path": str(tmp_path)}
    assert data.class_names(config) == ["bag", "boot", "coat"]
    # Labels follow the same order: the folder source gives "bag" id 0.
    from tfbiggan.data import folder  # pylint: disable=import-outside-toplevel
    from PIL import Image  # pylint: disable=import-outside-toplevel
    for name in ("coat", "bag", "boot"):
        Image.new("RGB", (8, 8)).save(tmp_path / name / "a.png")
    assert list(folder.scan_image_folder(str(tmp_path)).class_names) == ["bag", "boot", "coat"]
    # A model with more classes than the data: one name per class, the rest by id.
    assert data.class_names(config, num_classes=5) == ["bag", "boot", "coat", "3", "4"]
    assert data.class_names({"source": "folder", "path": str(tmp_path / "missing")}) is None


def test_tfds_names_come_from_the_label_feature(tmp_path):
    _builder_class()(data_dir=str(tmp_path)).download_and_prepare()
    config = {"source": "tfds", "name": NAME, "data_dir": str(tmp_path)}
    assert data.class_names(config) == TFDS_NAMES
    assert data.class_names(config, num_classes=4) == TFDS_NAMES + ["3"]


def test_sources_without_names_and_registered_readers(tmp_path, monkeypatch):
    assert data.class_names({"source": "tfrecord", "path": str(tmp_path)}) is None
    monkeypatch.setitem(metadata.READERS, "tfrecord", lambda config: ["x", "y"])
    assert data.class_names({"source": "tfrecord", "path": "unused"}) == ["x", "y"]
    monkeypatch.delitem(metadata.READERS, "tfrecord")
    data.register_reader("tfrecord", lambda config: None)
    assert data.class_names({"source": "tfrecord"}) is None
    with pytest.raises(ValueError, match="`reader` must be callable"):
        data.register_reader("tfrecord", ["x"])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
