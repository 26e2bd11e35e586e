"""Within-class variety: how much the samples of each class vary, relative to the real data.

A class-conditional generator can match the class of every sample (high class consistency,
high precision, a low FID in a classifier's feature space) while drawing almost the same image
for every z of a class: within-class collapse. The variety of class c is the total variance
of its samples' features, tr Cov(fake_c), divided by that of the real images of the class,
tr Cov(real_c): 1 when the samples spread like the data, near 0 when they collapse.
"""

import numpy as np

from tfbiggan.metrics import _arrays


def _total_variance(features):
    centred = features - features.mean(axis=0, keepdims=True)
    return float(np.sum(centred * centred) / (features.shape[0] - 1))


def class_variety(real_features, real_labels, fake_features, fake_labels):
    """Per-class ratio of the total feature variance of fake to real samples.

    Args:
      real_features: features [N, d] of real images.
      real_labels: their class ids [N].
      fake_features: features [M, d] of generated images.
      fake_labels: the class ids [M] they were generated for.

    Returns:
      {class id: tr Cov(fake_c) / tr Cov(real_c)} (unbiased covariances, float64) for the
      classes with at least two real and two fake samples and non-zero real variance.

    Raises:
      ValueError: mismatched shapes, or no class that can be compared.

    Example:
      >>> ratios = class_variety(real_f, real_y, fake_f, fake_y)
      >>> min(ratios.values())
    """
    real = _arrays.as_float64(real_features, "real_features", ndim=2)
    fake = _arrays.as_float64(fake_features, "fake_features", ndim=2)
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    if real_labels.shape != (real.shape[0],) or fake_labels.shape != (fake.shape[0],):
        raise ValueError(f"labels must have one entry per feature row, got {real_labels.shape} "
                         f"for {real.shape[0]} real and {fake_labels.shape} for "
                         f"{fake.shape[0]} fake rows.")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"`real_features` and `fake_features` must have the same dimension, "
                         f"got {real.shape[1]} and {fake.shape[1]}.")
    ratios = {}
    for label in np.unique(real_labels):
        r, f = real[real_labels == label], fake[fake_labels == label]
        if len(r) < 2 or len(f) < 2:
            continue
        denominator = _total_variance(r)
        if denominator > 0:
            ratios[int(label)] = _total_variance(f) / denominator
    if not ratios:
        raise ValueError("no class has two or more real and generated samples (and real "
                         "variance) to compare; generate samples of the real classes.")
    return ratios
