"""IDX files (the MNIST family): the reader against files written here, every bad input, the
"idx" source through the pipeline (grey, padded 28 → 32), and the real Fashion-MNIST files."""

import gzip
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfbiggan.data import idx, pipeline, sources

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


def write_idx(path, array, type_code=0x08, compress=False, extra=b"", cut=0):
    """Writes `array` in the IDX format (big-endian), optionally gzipped, padded or cut."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
             0x0E: ">f8"}[type_code]
    data = bytes([0, 0, type_code, array.ndim])
    data += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data += np.asarray(array, dtype).tobytes() + extra
    data = data[:len(data) - cut]
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)
    return str(path)


def write_split(directory, prefix, images, labels, compress=True):
    suffix = ".gz" if compress else ""
    os.makedirs(directory, exist_ok=True)
    return (write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"), images,
                      compress=compress),
            write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"), labels,
                      compress=compress))


def small_data(count=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8),
            (np.arange(count) % 10).astype(np.uint8))


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("type_code,values", [
    (0x08, np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
    (0x09, np.arange(-6, 6, dtype=np.int8).reshape(3, 4)),
    (0x0B, np.array([-300, 7, 32000], np.int16)),
    (0x0C, np.array([[1 << 30, -5]], np.int32)),
    (0x0D, np.array([1.5, -2.25], np.float32)),
    (0x0E, np.array([np.pi], np.float64)),
])
def test_read_idx_round_trips_every_type(tmp_path, type_code, values, compress):
    path = write_idx(tmp_path / "file", values, type_code, compress)
    read = idx.read_idx(path)
    assert read.shape == values.shape and read.dtype == values.dtype
    np.testing.assert_array_equal(read, values)


def test_bad_files_are_named_with_the_problem(tmp_path):
    images, _ = small_data()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        idx.read_idx(tmp_path / "missing")
    bad_magic = tmp_path / "magic"
    bad_magic.write_bytes(b"\x08\x03\x00\x00" + b"\x00" * 40)
    with pytest.raises(idx.IdxFormatError, match=r"'.*magic' is not an IDX file: magic number "
                                                  r"0x08030000"):
        idx.read_idx(bad_magic)
    unknown_type = tmp_path / "type"
    unknown_type.write_bytes(b"\x00\x00\x07\x01" + (4).to_bytes(4, "big") + b"abcd")
    with pytest.raises(idx.IdxFormatError, match="not an IDX file"):
        idx.read_idx(unknown_type)
    truncated = write_idx(tmp_path / "cut.gz", images, compress=True, cut=100)
    with pytest.raises(idx.IdxFormatError, match=r"cut.gz' is truncated: shape \[12, 28, 28\] "
                                                  r"of uint8 needs 9408 bytes .* holds 9308"):
        idx.read_idx(truncated)
    long = write_idx(tmp_path / "long", images, extra=b"xx")
    with pytest.raises(idx.IdxFormatError, match="longer than its header says"):
        idx.read_idx(long)
    header_cut = tmp_path / "header"
    header_cut.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(idx.IdxFormatError, match="its header needs 16 bytes"):
        idx.read_idx(header_cut)
    broken_gzip = tmp_path / "broken.gz"
    broken_gzip.write_bytes(gzip.compress(b"\x00" * 2000)[:30])
    with pytest.raises(idx.IdxFormatError, match="cannot be decompressed"):
        idx.read_idx(broken_gzip)
    assert idx.IdxFormatError.__mro__[1] is ValueError


def test_split_checks_counts_types_and_label_range(tmp_path):
    images, labels = small_data()
    image_path = write_idx(tmp_path / "i", images)
    loaded, loaded_labels = idx.load_idx_split(image_path, write_idx(tmp_path / "l", labels),
                                               num_classes=10)
    assert loaded.shape == (12, 28, 28, 1) and loaded_labels.dtype == np.int32
    np.testing.assert_array_equal(loaded[..., 0], images)
    with pytest.raises(idx.IdxFormatError, match=r"holds 12 images but .*'.*short' holds 11 "
                                                  "labels; the counts must match"):
        idx.load_idx_split(image_path, write_idx(tmp_path / "short", labels[:11]))
    with pytest.raises(idx.IdxFormatError, match=r"holds labels 0\.\.9, out of range for "
                                                  r"num_classes=8; accepted: \[0, 8\)"):
        idx.load_idx_split(image_path, write_idx(tmp_path / "l", labels), num_classes=8)
    with pytest.raises(idx.IdxFormatError, match=r"holds int16 \[12, 28, 28\]; accepted: uint8"):
        idx.load_idx_split(write_idx(tmp_path / "wide", images.astype(np.int16), 0x0B),
                           write_idx(tmp_path / "l", labels))
    with pytest.raises(idx.IdxFormatError, match=r"label file .* holds uint8 \[12, 1\]"):
        idx.load_idx_split(image_path, write_idx(tmp_path / "l2", labels[:, None]))
    with pytest.raises(idx.IdxFormatError, match="holds no images"):
        idx.load_idx_split(write_idx(tmp_path / "none", images[:0]),
                           write_idx(tmp_path / "nl", labels[:0]))


def test_split_files_are_found_by_name(tmp_path):
    images, labels = small_data()
    train = write_split(tmp_path / "d", "train", images, labels)
    test = write_split(tmp_path / "d", "t10k", images[:4], labels[:4], compress=False)
    assert idx.find_split_files(tmp_path / "d", "train") == train
    assert idx.find_split_files(tmp_path / "d", "test") == test
    emnist = write_split(tmp_path / "e", "emnist-letters-train", images, labels)
    assert idx.find_split_files(tmp_path / "e", "train") == emnist
    with pytest.raises(FileNotFoundError, match=r"no file for the test images \(expected "
                                                r"t10k-images-idx3-ubyte\[.gz\]\); it holds"):
        idx.find_split_files(tmp_path / "e", "test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        idx.find_split_files(tmp_path / "nowhere", "train")
    with pytest.raises(ValueError, match=r"splits \['test', 'train'\], got 'validation'"):
        idx.find_split_files(tmp_path / "d", "validation")


def test_idx_source_through_the_pipeline_pads_and_keeps_grey(tmp_path):
    images, labels = small_data(count=8)
    write_split(tmp_path, "train", images, labels)
    config = {"source": "idx", "path": str(tmp_path), "channels": 1, "fit": "pad",
              "random_flip": False, "shuffle_buffer": 0, "num_classes": 10}
    batch, batch_labels = next(iter(pipeline.make_dataset(config, 32, 8, seed=0,
                                                          repeat=False)))
    assert batch.shape == (8, 32, 32, 1)
    order = np.asarray(batch_labels)
    expected = images.astype(np.float32) / 255.0 * 2.0 - 1.0
    # The source shuffles (seeded); labels 0..7 are unique here, so they give the order.
    # Every pixel is kept, with a 2-pixel black border.
    np.testing.assert_array_equal(np.sort(order), labels.astype(np.int32))
    np.testing.assert_allclose(batch.numpy()[:, 2:30, 2:30, 0], expected[order], atol=1e-6)
    assert np.all(batch.numpy()[:, :2] == -1.0) and np.all(batch.numpy()[:, :, 30:] == -1.0)
    # The same files as "IMAGES,LABELS" and as RGB.
    files = ",".join(idx.find_split_files(tmp_path, "train"))
    rgb = next(iter(pipeline.make_dataset({**config, "path": files, "channels": 3}, 32, 8,
                                          seed=0, repeat=False)))[0].numpy()
    np.testing.assert_array_equal(rgb, np.repeat(batch.numpy(), 3, axis=-1))


def test_idx_source_errors_before_training(tmp_path, monkeypatch):
    images, labels = small_data()
    write_split(tmp_path, "train", images, labels)
    with pytest.raises(idx.IdxFormatError, match="out of range for num_classes=5"):
        sources.idx_source(str(tmp_path), num_classes=5)
    with pytest.raises(ValueError, match="needs `path`.*or a known `name` \\(fashion_mnist\\)"):
        sources.idx_source(None, "mnist")
    with pytest.raises(ValueError, match="'IMAGES_FILE,LABELS_FILE'"):
        sources.idx_files("a,b,c")
    with pytest.raises(ValueError, match=r"image larger than the resolution 16 cannot be padded "
                                         r"\(use fit='crop_resize'.*\[28, 28\]"):
        batch = pipeline.make_dataset({"source": "idx", "path": str(tmp_path), "fit": "pad",
                                       "channels": 1}, 16, 4, seed=0)
        next(iter(batch))
    # A named data set that is nowhere says how to get it.
    monkeypatch.setattr(idx, "NAMED", {"fashion_mnist": idx.NamedIdxDataset(
        "fashion_mnist", idx.FASHION_MNIST.class_names, "TFBIGGAN_TEST_NO_SUCH_VARIABLE",
        (str(tmp_path / "absent"),), "fashion_mnist", "install it")})
    monkeypatch.setattr(sources.tfds, "builder", lambda *a, **k: type(
        "NotPrepared", (), {"is_prepared": lambda self: False})())
    with pytest.raises(FileNotFoundError, match=r"fashion_mnist was not found \(looked in "
                                                r"\$TFBIGGAN_TEST_NO_SUCH_VARIABLE, .*absent"
                                                r" and for a prepared TFDS 'fashion_mnist'\): "
                                                r"install it"):
        sources.idx_source(name="fashion_mnist")
    # The environment variable points at a directory of the files.
    monkeypatch.setenv("TFBIGGAN_TEST_NO_SUCH_VARIABLE", str(tmp_path))
    assert sources.idx_files(name="fashion_mnist") == idx.find_split_files(tmp_path, "train")


def test_real_fashion_mnist_files():
    """Debian's dataset-fashion-mnist: 60,000 + 10,000 images of 10 balanced classes."""
    if not os.path.isdir(DEBIAN_DIR):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{DEBIAN_DIR} is missing under CI=true (.ci/run installs "
                        "dataset-fashion-mnist)")
        pytest.skip(f"{DEBIAN_DIR} is not installed (apt-get install dataset-fashion-mnist)")
    for split, count in (("train", 60_000), ("test", 10_000)):
        images, labels = idx.load_idx_split(*sources.idx_files(name="fashion_mnist",
                                                                 split=split), num_classes=10)
        assert images.shape == (count, 28, 28, 1)
        np.testing.assert_array_equal(np.bincount(labels), [count // 10] * 10)
    assert len(idx.FASHION_MNIST.class_names) == 10


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
