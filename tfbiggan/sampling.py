"""Latent and class sampling, interpolation and image grids for BigGAN generators.

Two truncation conventions (Brock et al. 2019, §3.1 and the TF-Hub modules):
- "resample": z ~ N(0, I) with every component |z_i| > t redrawn until it lies inside;
- "hub": z = t · truncated_normal(−2, 2), the convention of the DeepMind TF-Hub modules.

Every sampler is seeded and reproducible: the same seed gives the same array.
"""

import numpy as np
from absl import logging

from tfbiggan import files, validation
# The latent draws live in tfbiggan.latents (which tfbiggan.standing_stats also uses); they are
# part of this module's public API.
from tfbiggan.latents import MODES, check_truncation, sample_classes, truncated_z  # noqa: F401


def one_hot(labels, num_classes):
    """Class ids [B] → float32 one-hot vectors [B, num_classes].

    Example:
      >>> one_hot([2, 0], 3).tolist()
      [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    num_classes = validation.positive_int("num_classes", num_classes)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be a 1-D array of integer class ids, got shape "
                         f"{labels.shape} and dtype {labels.dtype}.")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(f"class ids must be in [0, {num_classes}), got {bad.tolist()[:5]}.")
    return np.eye(num_classes, dtype=np.float32)[labels]


def _lerp_weights(steps):
    steps = validation.positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"`steps` must be at least 2 (both end points), got {steps}.")
    return np.linspace(0.0, 1.0, steps)


def interpolate_z(z0, z1, steps, method="linear"):
    """Points from z0 to z1 (both included): [steps, dim_z], or [steps, B, dim_z] for batches.

    Args:
      z0, z1: latents of equal shape [dim_z] or [B, dim_z].
      steps: number of points (>= 2).
      method: "linear" or "slerp" (spherical, along the great circle between them).

    Example:
      >>> interpolate_z(np.zeros(4), np.ones(4), 3)[1].tolist()
      [0.5, 0.5, 0.5, 0.5]
    """
    validation.one_of("method", method, ("linear", "slerp"))
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    if z0.shape != z1.shape:
        raise ValueError(f"`z0` and `z1` must have the same shape, got {z0.shape} and "
                         f"{z1.shape}.")
    t = _lerp_weights(steps).reshape((-1,) + (1,) * z0.ndim)
    if method == "linear":
        return ((1.0 - t) * z0 + t * z1).astype(np.float32)
    n0 = np.linalg.norm(z0, axis=-1, keepdims=True)
    n1 = np.linalg.norm(z1, axis=-1, keepdims=True)
    cos = np.sum(z0 * z1, axis=-1, keepdims=True) / np.maximum(n0 * n1, 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    near = sin < 1e-6  # (anti)parallel: fall back to the linear path
    safe = np.where(near, 1.0, sin)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    w1 = np.where(near, t, np.sin(t * omega) / safe)
    return (w0 * z0 + w1 * z1).astype(np.float32)


def interpolate_classes(y0, y1, steps):
    """Linear path between two class vectors (ids or [K] vectors): [steps, K] float32.

    Example:
      >>> interpolate_classes(np.eye(3)[0], np.eye(3)[2], 3)[1].tolist()
      [0.5, 0.0, 0.5]
    """
    y0, y1 = np.asarray(y0, np.float64), np.asarray(y1, np.float64)
    if y0.ndim != 1 or y0.shape != y1.shape:
        raise ValueError(f"`y0` and `y1` must be class vectors [K] of the same width, got "
                         f"{y0.shape} and {y1.shape}.")
    t = _lerp_weights(steps)[:, None]
    return ((1.0 - t) * y0 + t * y1).astype(np.float32)


def class_interpolation_sheet(dim_z, num_classes, class_pairs, steps, truncation, seed,
                              mode="resample"):
    """The paper's class-wise interpolation sheet: one row per class pair, z fixed per row.

    Row r holds `steps` images whose latent is one truncated z and whose class vector moves
    linearly from class_pairs[r][0] to class_pairs[r][1].

    Returns:
      (z [rows·steps, dim_z], y [rows·steps, num_classes]) float32, row-major.

    Example:
      >>> z, y = class_interpolation_sheet(120, 1000, [(1, 207)], 8, 0.5, seed=0)
    """
    rows = list(class_pairs)
    if not rows:
        raise ValueError("`class_pairs` must hold at least one (start, end) pair, got none.")
    z_rows = truncated_z(len(rows), dim_z, truncation, seed, mode)
    zs, ys = [], []
    for z, pair in zip(z_rows, rows):
        if len(pair) != 2:
            raise ValueError(f"each class pair must be (start, end), got {pair!r}.")
        ends = one_hot(np.asarray(pair, np.int64), num_classes)
        ys.append(interpolate_classes(ends[0], ends[1], steps))
        zs.append(np.repeat(z[None], steps, axis=0))
    return np.concatenate(zs), np.concatenate(ys)


def latent_interpolation_sheet(dim_z, num_classes, classes, steps, truncation, seed,
                               mode="resample", method="linear"):
    """One row per class: the class is fixed and z moves between two truncated latents.

    Returns:
      (z [rows·steps, dim_z], y [rows·steps, num_classes]) float32, row-major.

    Example:
      >>> z, y = latent_interpolation_sheet(120, 1000, [1, 207], 8, 0.5, seed=0)
    """
    classes = np.asarray(list(classes), np.int64)
    ends = truncated_z(2 * len(classes), dim_z, truncation, seed, mode)
    zs = [interpolate_z(ends[2 * i], ends[2 * i + 1], steps, method)
          for i in range(len(classes))]
    ys = np.repeat(one_hot(classes, num_classes), steps, axis=0)
    return np.concatenate(zs), ys


def to_uint8(images):
    """Images in [-1, 1] (float) → uint8 in [0, 255] (values outside are clipped)."""
    images = np.asarray(images, np.float32)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images, rows, cols=None):
    """Tiles images [N, H, W, C] in [-1, 1] into one uint8 image [rows·H, cols·W, C].

    Missing cells (N < rows·cols) stay black.

    Example:
      >>> image_grid(np.zeros((6, 8, 8, 3)), rows=2).shape
      (16, 24, 3)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must have shape [N, H, W, C], got {images.shape}.")
    count = images.shape[0]
    rows = validation.positive_int("rows", rows)
    cols = -(-count // rows) if cols is None else validation.positive_int("cols", cols)
    if count > rows * cols:
        raise ValueError(f"{count} images do not fit a {rows}×{cols} grid.")
    _, height, width, channels = images.shape
    grid = np.zeros((rows * height, cols * width, channels), np.uint8)
    pixels = images if images.dtype == np.uint8 else to_uint8(images)
    for index in range(count):
        r, c = divmod(index, cols)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = pixels[index]
    return grid


def save_grid_png(images, path, rows, labels=None, column_labels=None):
    """Writes an image grid as a PNG (atomically: temporary file, then rename).

    Args:
      images: [N, H, W, C] in [-1, 1] (or uint8), C = 1 or 3.
      path: output file.
      rows: grid rows (columns = ceil(N / rows)).
      labels: optional text per row, drawn in a margin left of the grid.
      column_labels: optional text per column (or per group of columns: a list of
        (text, number of columns)), drawn in a margin above the grid.

    Returns:
      The uint8 array that was written.

    Example:
      >>> save_grid_png(images, "/tmp/grid.png", rows=4, labels=["goldfish", ...])
    """
    from PIL import Image, ImageDraw  # pylint: disable=import-outside-toplevel

    grid = image_grid(images, rows)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    if column_labels is not None:
        grid = _with_column_labels(grid, -(-len(images) // rows), column_labels)
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != rows:
            raise ValueError(f"`labels` must hold one entry per row ({rows}), got "
                             f"{len(labels)}.")
        top = grid.shape[0] - rows * np.asarray(images).shape[1]  # The column-label margin.
        row_height = (grid.shape[0] - top) // rows
        margin = 8 + 6 * max(len(label) for label in labels)
        canvas = Image.new("RGB", (grid.shape[1] + margin, grid.shape[0]), (255, 255, 255))
        canvas.paste(Image.fromarray(grid), (margin, 0))
        draw = ImageDraw.Draw(canvas)
        for r, label in enumerate(labels):
            draw.text((4, top + r * row_height + max(row_height // 2 - 5, 0)), label,
                      fill=(0, 0, 0))
        picture = canvas
    else:
        picture = Image.fromarray(grid)
    with files.atomic_write(path, "wb") as f:
        picture.save(f, format="PNG")
    logging.info("Wrote a %d-row image grid to %s.", rows, path)
    return np.asarray(picture)


def _with_column_labels(grid, cols, column_labels):
    """The grid with a white margin above it holding a label per column (group)."""
    from PIL import Image, ImageDraw  # pylint: disable=import-outside-toplevel
    groups = [(str(item), 1) if not isinstance(item, (tuple, list)) else (str(item[0]),
                                                                            int(item[1]))
              for item in column_labels]
    if sum(width for _, width in groups) != cols:
        raise ValueError(f"`column_labels` must cover the {cols} columns, got {column_labels!r}.")
    cell = grid.shape[1] // cols
    canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + 14), (255, 255, 255))
    canvas.paste(Image.fromarray(grid), (0, 14))
    draw = ImageDraw.Draw(canvas)
    start = 0
    for text, width in groups:
        draw.text((start * cell + 2, 1), text, fill=(0, 0, 0))
        if start:
            draw.line([(start * cell, 0), (start * cell, 13)], fill=(0, 0, 0))
        start += width
    return np.asarray(canvas)


def generator_fn(generator):
    """(dim_z, num_classes, fn(z, y_onehot, truncation) → images) for a tfbiggan generator
    or for a module loaded from an export (`hub.load` / `tf.saved_model.load`)."""
    if hasattr(generator, "signatures") and not hasattr(generator, "get_config"):
        dim_z = int(generator.dim_z.numpy())
        num_classes = int(generator.num_classes.numpy())
        return dim_z, num_classes, lambda z, y, t: generator(z, y, np.float32(t)).numpy()

    from tfbiggan.layers import normalization  # pylint: disable=import-outside-toplevel
    if not normalization.truncation_bank_is_filled(generator):
        # An unfilled bank holds no statistics: sample with the current (moving or standing)
        # ones, the truncation acting on z only.
        def run(z, y, truncation):
            del truncation
            return np.asarray(generator(z, y, training=False))
    else:
        def run(z, y, truncation):
            return np.asarray(generator(z, y, training=False, truncation=truncation))

    return generator.dim_z, generator.num_classes, run


def sample_sheet(generator, classes, truncations, per_class, seed, mode="hub",
                 standing_batches=0, standing_batch_size=64, class_names=None):
    """One row per class; for each truncation, `per_class` samples (columns).

    The latents of a column are shared by every row (so rows differ by class only); each
    truncation uses its own statistics when the generator has a truncation bank.

    Args:
      generator: a tfbiggan generator or a loaded export.
      classes: class ids (one row each).
      truncations: truncation values, each giving `per_class` columns.
      per_class: samples per class and truncation.
      seed: seed of the latents.
      mode: truncation convention of the latents ("hub" or "resample").
      standing_batches: for a tfbiggan generator, > 0 collects standing statistics at each
        truncation (`tfbiggan.standing_stats`) and samples with them instead of the bank.
      standing_batch_size: batch size of that collection.
      class_names: optional names of all classes (index = class id), e.g. the
        `class_names` of a run's config.json or an export; labels are then "c: name".

    Returns:
      (images [rows·cols, R, R, 3] in [-1, 1], rows, labels) with labels "c: name", or
      "class c" without names.

    Example:
      >>> images, rows, labels = sample_sheet(generator, [1, 2], [0.3, 1.0], 4, seed=0)
      >>> save_grid_png(images, "sheet.png", rows, labels)
    """
    dim_z, num_classes, run = generator_fn(generator)
    classes = [int(c) for c in classes]
    truncations = [float(t) for t in truncations]
    per_class = validation.positive_int("per_class", per_class)
    if not classes or not truncations:
        raise ValueError(f"`classes` and `truncations` must not be empty, got {classes!r} "
                         f"and {truncations!r}.")
    if class_names and len(class_names) != num_classes:
        raise ValueError(f"`class_names` must hold one name per class ({num_classes}), got "
                         f"{len(class_names)}.")
    labels_onehot = one_hot(np.asarray(classes), num_classes)
    columns = []  # per truncation: [rows, per_class, R, R, 3]
    for index, truncation in enumerate(truncations):
        z = truncated_z(per_class, dim_z, truncation, (seed, index), mode)
        z_all = np.tile(z, (len(classes), 1))
        y_all = np.repeat(labels_onehot, per_class, axis=0)
        if standing_batches and hasattr(generator, "get_config"):
            # TensorFlow is imported only when standing statistics are collected.
            from tfbiggan import standing_stats  # pylint: disable=import-outside-toplevel
            standing_stats.collect_standing_statistics(
                generator, standing_batches, standing_batch_size, truncation, seed, mode)
            images = run(z_all, y_all, None)
        else:
            images = run(z_all, y_all, truncation)
        columns.append(images.reshape((len(classes), per_class) + images.shape[1:]))
    sheet = np.concatenate(columns, axis=1)
    labels = ([f"{c}: {class_names[c]}" for c in classes] if class_names else
              [f"class {c}" for c in classes])
    return sheet.reshape((-1,) + sheet.shape[2:]), len(classes), labels
