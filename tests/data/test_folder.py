"""Image-folder source: values, class ids, and errors for bad files."""

import logging
import os
import re
import sys

import numpy as np
from PIL import Image
import pytest

from tests import conftest  # noqa: F401  (two logical CPU devices)
from tests.data import reference
from tfbiggan.data import folder
from tfbiggan.data import preprocessing


def _save(path, array, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, fmt)
    return array


def _rng_image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def image_tree(tmp_path):
    """Two classes with PNG (RGB, grey, RGBA) and BMP files; a text file to ignore."""
    root = tmp_path / "images"
    arrays = {
        "cat/b.png": _rng_image((12, 16, 3), 1),
        "cat/a.bmp": _rng_image((10, 10, 3), 2),
        "ant/grey.png": _rng_image((11, 10), 3),
        "ant/alpha.PNG": _rng_image((10, 13, 4), 4),
    }
    for name, array in arrays.items():
        _save(str(root / name), array)
    (root / "cat" / "notes.txt").write_text("not an image")
    return root, arrays


def test_folder_source_values_and_sorted_class_ids(image_tree):
    root, arrays = image_tree
    contents = folder.scan_image_folder(str(root), 8)
    assert contents.class_names == ("ant", "cat")
    names = [os.path.relpath(f, root) for f in contents.files]
    assert names == ["ant/alpha.PNG", "ant/grey.png", "cat/a.bmp", "cat/b.png"]
    assert contents.labels == (0, 0, 1, 1)

    examples = list(folder.folder_source(str(root), 8))
    assert len(examples) == 4
    for name, (image, label) in zip(names, examples):
        assert image.shape[-1] == 3 and label.dtype.name == "int32"
        assert int(label) == contents.labels[names.index(name)]
        got = preprocessing.preprocess_image(image, 8).numpy()
        expected = reference.preprocess(arrays[name][..., None] if arrays[name].ndim == 2
                                        else arrays[name], 8)
        np.testing.assert_allclose(got, expected, atol=2e-6)


def test_jpeg_files_decode_close_to_original(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))
    _save(str(tmp_path / "x" / "a.jpg"), smooth)
    _save(str(tmp_path / "x" / "b.jpeg"), smooth[..., 0])
    images = [image.numpy() for image, _ in folder.folder_source(str(tmp_path), 16)]
    assert len(images) == 2
    for image in images:
        assert image.shape == (16, 16, 3)
        assert np.abs(image.astype(int) - smooth).max() <= 8


def test_missing_directory(tmp_path):
    missing = str(tmp_path / "nope")
    pattern = f"{re.escape(repr(missing))} does not exist.*one sub-folder"
    with pytest.raises(FileNotFoundError, match=pattern):
        folder.folder_source(missing, 8)


def test_no_class_folders(tmp_path):
    with pytest.raises(ValueError, match="no class sub-folders"):
        folder.folder_source(str(tmp_path), 8)


def test_class_folder_without_images(image_tree):
    root, _ = image_tree
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"'.*empty' contains no images; accepted extensions"):
        folder.folder_source(str(root), 8)


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty \\(0 bytes\\)"),
    (b"this is not a png at all", "UnidentifiedImageError"),
])
def test_unreadable_file_is_named(image_tree, content, reason):
    root, _ = image_tree
    bad = root / "cat" / "bad.png"
    bad.write_bytes(content)
    pattern = f"{re.escape(repr(str(bad)))} cannot be read \\({reason}.*skip_corrupt"
    with pytest.raises(ValueError, match=pattern):
        folder.folder_source(str(root), 8)


def test_truncated_file_is_named(image_tree):
    root, arrays = image_tree
    good = root / "cat" / "b.png"
    truncated = root / "cat" / "c.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError, match=f"{re.escape(repr(str(truncated)))} cannot be read"):
        folder.scan_image_folder(str(root), 8)


def test_skip_corrupt_counts_and_logs(image_tree, caplog):
    root, _ = image_tree
    (root / "cat" / "zero.png").write_bytes(b"")
    (root / "ant" / "junk.jpg").write_bytes(b"\xff\xd8 nonsense")
    with caplog.at_level(logging.WARNING):
        contents = folder.scan_image_folder(str(root), 8, skip_corrupt=True)
    assert sorted(os.path.basename(f) for f in contents.skipped) == ["junk.jpg", "zero.png"]
    assert "Skipped 2 unreadable image file(s)" in caplog.text
    assert len(list(folder.folder_source(str(root), 8, skip_corrupt=True))) == 4


def test_too_small_image_named_with_size(image_tree):
    root, _ = image_tree
    small = root / "cat" / "small.png"
    _save(str(small), _rng_image((5, 7, 3), 9))
    pattern = f"{re.escape(repr(str(small)))} is 7x5 .*resolution 8.*allow_upscale"
    with pytest.raises(ValueError, match=pattern):
        folder.folder_source(str(root), 8)
    examples = list(folder.folder_source(str(root), 8, allow_upscale=True))
    assert len(examples) == 5


def test_more_class_folders_than_num_classes(image_tree):
    root, _ = image_tree
    with pytest.raises(ValueError, match="2 class folders.*num_classes=1"):
        folder.folder_source(str(root), 8, num_classes=1)


def test_empty_class_folder_among_full_ones_is_named_before_the_class_count(tmp_path):
    """Ten full class folders and one empty one with num_classes=10: the error names the
    empty folder (not "11 class folders, out of range")."""
    root = tmp_path / "fashion"
    for index in range(10):
        _save(str(root / f"class{index:02d}" / "a.png"), _rng_image((8, 8, 3), index))
    (root / "boot").mkdir()
    with pytest.raises(ValueError) as error:
        folder.scan_image_folder(str(root), 8, num_classes=10)
    message = str(error.value)
    assert f"Class folder {str(root / 'boot')!r} contains no images" in message
    assert "11 class folders" not in message
    (root / "coat").mkdir()
    with pytest.raises(ValueError, match=r"Class folders '.*boot', '.*coat' contain no images"):
        folder.scan_image_folder(str(root), 8, num_classes=12)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
