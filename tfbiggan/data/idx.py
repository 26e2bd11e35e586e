"""IDX files: the format of MNIST, Fashion-MNIST, KMNIST and EMNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian int32 per dimension, then the values in row-major order, big-endian
(LeCun et al., http://yann.lecun.com/exdb/mnist/). The MNIST family ships one image file
(`*-images-idx3-ubyte`, uint8 [N, H, W]) and one label file (`*-labels-idx1-ubyte`, uint8 [N])
per split, usually gzipped. Nothing here executes code from a file: the bytes are parsed with
`numpy.frombuffer`.

Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv 1708.07747) is available by name: Debian's
package `dataset-fashion-mnist` installs its four files in `/usr/share/datasets/fashion-mnist/`.
"""

import dataclasses
import glob
import gzip
import os

import numpy as np

# IDX type code → big-endian NumPy dtype.
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# Split name → file prefix of the MNIST family ("t10k" is the test split).
_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}


@dataclasses.dataclass(frozen=True)
class NamedIdxDataset:
    """An IDX dataset known by name.

    Attributes:
      name: the name a data config uses (`data.pipeline.name`).
      class_names: names of the classes, in label order.
      environment_variable: a directory of the four files, looked at first.
      directories: further directories holding the four files, in search order.
      tfds_name: the TFDS dataset with the same images, used when it is prepared.
      install_hint: how to get the files.
    """
    name: str
    class_names: tuple
    environment_variable: str
    directories: tuple
    tfds_name: str
    install_hint: str


FASHION_MNIST = NamedIdxDataset(
    name="fashion_mnist",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    environment_variable="TFBIGGAN_FASHION_MNIST",
    directories=("/usr/share/datasets/fashion-mnist",
                 os.path.join("~", ".cache", "tfbiggan", "fashion-mnist")),
    tfds_name="fashion_mnist",
    install_hint=("install Debian's package (`sudo apt-get install dataset-fashion-mnist`), "
                  "or put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                  "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (from "
                  "https://github.com/zalandoresearch/fashion-mnist) in a directory and set "
                  "TFBIGGAN_FASHION_MNIST=DIR or --config.data.pipeline.path=DIR, or let TFDS "
                  "download it (--config.data.pipeline.download=True)"))

NAMED = {FASHION_MNIST.name: FASHION_MNIST}


class IdxFormatError(ValueError):
    """An IDX file that cannot be read: wrong magic number, truncated, or inconsistent."""


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":  # gzip
                with gzip.GzipFile(fileobj=f) as unzipped:
                    return unzipped.read()
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file {path!r} does not exist.") from None
    except (OSError, EOFError) as error:  # A damaged or truncated gzip stream.
        raise IdxFormatError(f"IDX file {path!r} cannot be decompressed: {error}.") from None


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a NumPy array.

    Args:
      path: the file.

    Returns:
      An array of the file's shape and type (native byte order).

    Raises:
      FileNotFoundError: the file does not exist.
      IdxFormatError: a wrong magic number or type code, or a size that does not match the
        header (a truncated or padded file); the message names the file.

    Example:
      >>> labels = read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
      >>> labels.shape
      (10000,)
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxFormatError(f"IDX file {path!r} holds {len(data)} bytes, fewer than its "
                             "4-byte magic number.")
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in _TYPES or ndim < 1:
        raise IdxFormatError(
            f"{path!r} is not an IDX file: magic number 0x{data[:4].hex()}; accepted: "
            f"0x0000TTNN with type TT in {{{', '.join(f'{t:02x}' for t in _TYPES)}}} and "
            "NN >= 1 dimensions (e.g. 0x00000803 for uint8 images, 0x00000801 for labels).")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"IDX file {path!r} is truncated: its header needs {header} bytes, "
                             f"the file holds {len(data)}.")
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], ">u4"))
    dtype = np.dtype(_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        state = "truncated" if found < expected else "longer than its header says"
        raise IdxFormatError(
            f"IDX file {path!r} is {state}: shape {list(shape)} of {dtype.name} needs "
            f"{expected} bytes of values, the file holds {found}.")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_split_files(directory, split):
    """(images path, labels path) of a split in a directory of MNIST-family files.

    Files are matched by name: `[*-]{train|t10k|test}-{images-idx3|labels-idx1}-ubyte[.gz]`
    (so EMNIST's `emnist-balanced-train-images-idx3-ubyte` is found too).

    Args:
      directory: the directory.
      split: "train" or "test".

    Raises:
      ValueError: an unknown split.
      FileNotFoundError: no file or several files match; the message lists what is there.
    """
    if split not in _PREFIXES:
        raise ValueError(f"IDX datasets have the splits {sorted(_PREFIXES)}, got {split!r}.")
    directory = os.path.expanduser(os.fspath(directory))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"IDX directory {directory!r} does not exist.")
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        matches = sorted({path for prefix in _PREFIXES[split]
                          for pattern in (f"{prefix}-{kind}-ubyte", f"*-{prefix}-{kind}-ubyte")
                          for path in glob.glob(os.path.join(glob.escape(directory), pattern))
                          + glob.glob(os.path.join(glob.escape(directory), pattern + ".gz"))})
        if len(matches) != 1:
            present = sorted(os.listdir(directory))
            what = "no file" if not matches else f"{len(matches)} files ({matches})"
            raise FileNotFoundError(
                f"IDX directory {directory!r}: {what} for the {split} {kind.split('-')[0]} "
                f"(expected {_PREFIXES[split][0]}-{kind}-ubyte[.gz]); it holds {present}.")
        found.append(matches[0])
    return tuple(found)


def load_idx_split(images_path, labels_path, num_classes=None):
    """Images and labels of one split, checked against each other.

    Args:
      images_path: the image file (uint8 [N, H, W] or [N, H, W, C]).
      labels_path: the label file (integers [N]).
      num_classes: the model's number of classes: labels must lie in [0, num_classes).

    Returns:
      (uint8 images [N, H, W, C], int32 labels [N]).

    Raises:
      IdxFormatError: wrong dimensions or type, different counts, or labels out of range;
        the message names the file.

    Example:
      >>> images, labels = load_idx_split(*find_split_files(directory, "train"))
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise IdxFormatError(
            f"IDX image file {images_path!r} holds {images.dtype.name} {list(images.shape)}; "
            "accepted: uint8 [N, H, W] or [N, H, W, C].")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise IdxFormatError(
            f"IDX label file {labels_path!r} holds {labels.dtype.name} {list(labels.shape)}; "
            "accepted: integers [N].")
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(
            f"{images_path!r} holds {images.shape[0]} images but {labels_path!r} holds "
            f"{labels.shape[0]} labels; the counts must match.")
    if images.shape[0] == 0:
        raise IdxFormatError(f"IDX image file {images_path!r} holds no images.")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        accepted = f"[0, {num_classes})" if num_classes is not None else "labels >= 0"
        raise IdxFormatError(
            f"IDX label file {labels_path!r} holds labels {low}..{high}, out of range for "
            f"num_classes={num_classes}; accepted: {accepted}.")
    if images.ndim == 3:
        images = images[..., None]
    return images, labels.astype(np.int32)


def named_directory(dataset, path=None):
    """The directory holding a named dataset's files, or None when none is found.

    Looks at `path` (if given), the dataset's environment variable, then its directories.
    """
    candidates = [path, os.environ.get(dataset.environment_variable), *dataset.directories]
    for candidate in candidates:
        if candidate and os.path.isdir(os.path.expanduser(candidate)):
            return os.path.expanduser(candidate)
    return None
