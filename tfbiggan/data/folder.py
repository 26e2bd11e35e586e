"""Image-folder source: `ROOT/<class name>/<image>.{jpg,jpeg,png,bmp}`.

Class ids follow the sorted folder names. Every file is checked with PIL (a header read and
`verify()`, no full decode) when the source is built, so unreadable or too-small files are
reported by name before training starts.
"""

import dataclasses
import os

from absl import logging
import PIL.Image
import tensorflow as tf

from tfbiggan.data import preprocessing
from tfbiggan.data import sharding

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


@dataclasses.dataclass(frozen=True)
class FolderContents:
    """What `scan_image_folder` found.

    Attributes:
      files: image paths that passed the checks, ordered by class then file name.
      labels: class id of each file (index into `class_names`).
      class_names: sorted sub-folder names.
      skipped: paths of unreadable files left out because `skip_corrupt=True`.
    """
    files: tuple
    labels: tuple
    class_names: tuple
    skipped: tuple


def image_size_or_reason(source):
    """(width, height) of a readable image (a path or a file object), else the reason (str).

    Reads the header and verifies the file with PIL, without decoding the pixels."""
    try:
        with PIL.Image.open(source) as image:
            size = image.size
            image.verify()
    except (OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError) as error:
        return f"{type(error).__name__}: {error}"
    return size


def check_short_side(subject, size, resolution, allow_upscale, remedy):
    """Raises ValueError when an image of `size` (width, height) is smaller than `resolution`.

    Args:
      subject: the start of the message, naming the image and its size.
      size: (width, height).
      resolution: target resolution (None: no check).
      allow_upscale: accept small images (no check).
      remedy: the end of the message, saying what to do.
    """
    if resolution is not None and not allow_upscale and min(size) < resolution:
        raise ValueError(f"{subject}, smaller than the target resolution {resolution}: its short "
                         f"side must be >= {resolution}. {remedy}")


def _check_image_file(path, resolution, allow_upscale):
    """Returns None if `path` is a readable image, else the reason; raises if too small."""
    try:
        if os.path.getsize(path) == 0:
            return "the file is empty (0 bytes)"
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    size = image_size_or_reason(path)
    if isinstance(size, str):
        return size
    check_short_side(f"Image {path!r} is {size[0]}x{size[1]} (width x height)", size,
                     resolution, allow_upscale,
                     "Remove it or set allow_upscale=True to upsample small images.")
    return None


def _image_names(class_dir):
    """Sorted names of the image files (by extension) directly inside `class_dir`."""
    return sorted(name for name in os.listdir(class_dir)
                  if name.lower().endswith(IMAGE_EXTENSIONS)
                  and os.path.isfile(os.path.join(class_dir, name)))


def scan_image_folder(path, resolution=None, *, num_classes=None, skip_corrupt=False,
                      allow_upscale=False):
    """Lists and validates the images of a class-per-folder tree.

    Args:
      path: root folder; each sub-folder is one class (sorted names give ids 0, 1, ...).
      resolution: target resolution; images whose short side is smaller fail unless
        `allow_upscale`. None skips the size check.
      num_classes: expected number of classes; None accepts any number. More class folders
        than `num_classes` is an error (their labels would be out of range).
      skip_corrupt: leave out (and count) unreadable files instead of failing.
      allow_upscale: accept images smaller than `resolution`.

    Returns:
      A `FolderContents`.

    Example:
      >>> contents = scan_image_folder("/data/flowers", resolution=128)
      >>> contents.class_names[:2]
      ('daisy', 'dandelion')
    """
    if not tf.io.gfile.isdir(path):
        raise FileNotFoundError(
            f"Image folder {path!r} does not exist or is not a directory; expected a folder "
            "with one sub-folder of images (.jpg, .jpeg, .png, .bmp) per class.")
    class_names = tuple(sorted(
        name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name))))
    if not class_names:
        raise ValueError(
            f"Image folder {path!r} has no class sub-folders; expected one sub-folder of "
            "images (.jpg, .jpeg, .png, .bmp) per class.")
    listings = {name: _image_names(os.path.join(path, name)) for name in class_names}
    empty = [name for name in class_names if not listings[name]]
    if empty:  # Named first: an empty folder also inflates the class count below.
        folders = ", ".join(repr(os.path.join(path, name)) for name in empty)
        raise ValueError(
            f"Class folder{'s' if len(empty) > 1 else ''} {folders} "
            f"{'contain' if len(empty) > 1 else 'contains'} no images; accepted extensions: "
            f"{', '.join(IMAGE_EXTENSIONS)}. Every class folder needs at least one image: "
            "remove or fill it.")
    if num_classes is not None and len(class_names) > num_classes:
        raise ValueError(
            f"Image folder {path!r} has {len(class_names)} class folders, so labels reach "
            f"{len(class_names) - 1}, out of range for num_classes={num_classes}; accepted: "
            f"at most {num_classes} class folders (or raise num_classes).")
    files, labels, skipped = [], [], []
    for label, class_name in enumerate(class_names):
        class_dir = os.path.join(path, class_name)
        for name in listings[class_name]:
            file_path = os.path.join(class_dir, name)
            problem = _check_image_file(file_path, resolution, allow_upscale)
            if problem is None:
                files.append(file_path)
                labels.append(label)
            elif skip_corrupt:
                skipped.append(file_path)
            else:
                raise ValueError(
                    f"Image file {file_path!r} cannot be read ({problem}); accepted: readable "
                    "JPEG, PNG or BMP files. Set skip_corrupt=True to skip such files.")
    if skipped:
        logging.warning("Skipped %d unreadable image file(s) under %s, e.g. %s.",
                        len(skipped), path, skipped[0])
    if not files:
        raise ValueError(
            f"Image folder {path!r} has no readable images ({len(skipped)} skipped as "
            "unreadable); at least one is needed.")
    logging.info("Image folder %s: %d images in %d classes.", path, len(files), len(class_names))
    return FolderContents(tuple(files), tuple(labels), class_names, tuple(skipped))


def decode_image_file(path):
    """Reads and decodes one image file to uint8 RGB [H, W, 3] (grey and RGBA converted)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
    return preprocessing.to_rgb(image)


def folder_source(path, resolution=None, *, num_classes=None, skip_corrupt=False,
                  allow_upscale=False, input_context=None, shuffle_seed=None):
    """A dataset of (uint8 RGB image [H, W, 3], int32 label) from a class-per-folder tree.

    Files are validated up front by `scan_image_folder`. Under a `tf.distribute.InputContext`
    each input pipeline reads its own shard of the file list (before decoding).

    Args:
      path: root folder with one sub-folder per class.
      resolution: target resolution for the size check (None: no check).
      num_classes: expected number of classes (None: any).
      skip_corrupt: skip and count unreadable files instead of failing.
      allow_upscale: accept images smaller than `resolution`.
      input_context: optional `tf.distribute.InputContext` for per-pipeline sharding.
      shuffle_seed: if not None, the file order is shuffled (afresh each epoch) with this seed.

    Returns:
      A `tf.data.Dataset`.

    Example:
      >>> ds = folder_source("/data/flowers", resolution=64, shuffle_seed=0)
    """
    contents = scan_image_folder(path, resolution, num_classes=num_classes,
                                 skip_corrupt=skip_corrupt, allow_upscale=allow_upscale)
    dataset = tf.data.Dataset.from_tensor_slices(
        (list(contents.files), tf.constant(contents.labels, tf.int32)))
    dataset = sharding.shard(dataset, input_context, what=f"Image folder {path!r}",
                             size=len(contents.files))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(contents.files), seed=shuffle_seed,
                                  reshuffle_each_iteration=True)
    return dataset.map(lambda file, label: (decode_image_file(file), label),
                       num_parallel_calls=tf.data.AUTOTUNE)
