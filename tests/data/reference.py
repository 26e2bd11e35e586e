"""NumPy reference of BigGAN preprocessing, written independently of TensorFlow."""

import numpy as np


def to_rgb(image):
    """[H, W, C] -> [H, W, 3]: grey (C 1 or 2) repeated, alpha dropped."""
    if image.shape[-1] < 3:
        return np.repeat(image[..., :1], 3, axis=-1)
    return image[..., :3]


def center_crop(image):
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top:top + side, left:left + side]


def _area_matrix(size_in, size_out):
    """[size_out, size_in] weights: output pixel i averages input span [i s, (i + 1) s)."""
    scale = size_in / size_out
    weights = np.zeros((size_out, size_in), np.float64)
    for i in range(size_out):
        start, end = i * scale, (i + 1) * scale
        for j in range(int(np.floor(start)), min(int(np.ceil(end)), size_in)):
            weights[i, j] = max(0.0, min(end, j + 1) - max(start, j)) / scale
    return weights


def area_resize(image, size):
    """Box-filter resize of a float [H, W, C] image to [size, size, C]."""
    rows = _area_matrix(image.shape[0], size)
    cols = _area_matrix(image.shape[1], size)
    return np.einsum("ih,jw,hwc->ijc", rows, cols, image.astype(np.float64))


def preprocess(image, resolution):
    """uint8 (0..255) or float ([0, 1]) [H, W, C] -> float [R, R, 3] in [-1, 1]."""
    image = to_rgb(np.asarray(image))
    unit = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    return area_resize(center_crop(unit), resolution) * 2.0 - 1.0
