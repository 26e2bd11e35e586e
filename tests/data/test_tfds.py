"""TFDS source, on a tiny dataset built locally by a TFDS builder (nothing is downloaded)."""

import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tests import conftest  # noqa: F401  (two logical CPU devices)
from tfbiggan.data import sources

NAME = "tfbiggan_tiny_grey"
NUM_EXAMPLES = 6


def _example_image(index):
    """Grey images of varying sizes, distinct per example."""
    shape = (8 + index, 10, 1)
    return np.random.default_rng(index).integers(0, 256, shape, dtype=np.uint8)


def _builder_class():
    """Registers the tiny builder once per process (the module may be imported twice)."""
    try:
        return tfds.builder_cls(NAME)
    except tfds.core.registered.DatasetNotFoundError:
        pass

    class TfbigganTinyGrey(tfds.core.GeneratorBasedBuilder):
        """Six grey images, labels index % 3."""
        VERSION = tfds.core.Version("1.0.0")
        # No code folder to look up checksums in (that lookup needs `importlib_resources`).
        code_path = None

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(None, None, 1)),
                    "label": tfds.features.ClassLabel(num_classes=3)}),
                supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for index in range(NUM_EXAMPLES):
                yield index, {"image": _example_image(index), "label": index % 3}

    return TfbigganTinyGrey


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tfds"))
    _builder_class()(data_dir=directory).download_and_prepare()
    return directory


def test_tfds_source_values(data_dir):
    dataset = sources.tfds_source(NAME, "train", data_dir=data_dir, num_classes=3)
    got = sorted((int(label), image.numpy().tobytes()) for image, label in dataset)
    expected = sorted((i % 3, np.repeat(_example_image(i), 3, axis=-1).tobytes())
                      for i in range(NUM_EXAMPLES))
    assert got == expected
    image, label = next(iter(dataset))
    assert image.dtype == tf.uint8 and image.shape[-1] == 3 and label.dtype == tf.int32


def test_tfds_source_split_slice_and_sharding(data_dir):
    assert len(list(sources.tfds_source(NAME, "train[:4]", data_dir=data_dir))) == 4
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, 2)
        dataset = sources.tfds_source(NAME, data_dir=data_dir, input_context=context)
        seen.append([image.numpy().tobytes() for image, _ in dataset])
    assert len(seen[0]) == len(seen[1]) == NUM_EXAMPLES // 2
    assert set(seen[0]).isdisjoint(seen[1])


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Unknown TFDS dataset name 'imagenet2021'.*"
                                         "Did you mean 'imagenet2012'"):
        sources.tfds_source("imagenet2021")


def test_unknown_split(data_dir):
    with pytest.raises(ValueError, match="Unknown split 'validation' .* accepted: \\['train'\\]"):
        sources.tfds_source(NAME, "validation", data_dir=data_dir)


def test_empty_split(data_dir):
    with pytest.raises(ValueError, match="Split 'train\\[6:\\]' .* is empty"):
        sources.tfds_source(NAME, "train[6:]", data_dir=data_dir)


def test_labels_out_of_range(data_dir):
    with pytest.raises(ValueError, match="has 3 classes.*out of range for num_classes=2"):
        sources.tfds_source(NAME, data_dir=data_dir, num_classes=2)


def test_not_prepared_and_missing_manual_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{NAME!r} is not prepared.*download=True"):
        sources.tfds_source(NAME, data_dir=str(tmp_path))
    missing = str(tmp_path / "archives")
    with pytest.raises(FileNotFoundError, match=f"`manual_dir` '{missing}' .* does not exist"):
        sources.tfds_source("imagenet2012", data_dir=str(tmp_path), manual_dir=missing)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
