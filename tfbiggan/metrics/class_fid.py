"""Intra-FID: the mean of per-class FIDs.

Miyato & Koyama 2018, "cGANs with Projection Discriminator" (arXiv 1802.05637), used by
BigGAN-era class-conditional evaluations.
"""

import numpy as np

from tfbiggan.metrics import _arrays
from tfbiggan.metrics import frechet


def _labels(labels, name, count):
    if hasattr(labels, "numpy"):
        labels = labels.numpy()
    labels = np.asarray(labels)
    if labels.ndim == 2:  # One-hot or class mixtures: take the arg-max class.
        labels = np.argmax(labels, axis=1)
    if labels.shape != (count,):
        raise ValueError(
            f"`{name}` must have shape [{count}] (or [{count}, num_classes] one-hot), "
            f"got {labels.shape}.")
    return labels.astype(np.int64)


def intra_fid(real_acts, real_labels, fake_acts, fake_labels):
    """Mean over the classes present in `real_labels` of the FID within each class.

    Args:
      real_acts, fake_acts: activations [N, d].
      real_labels, fake_labels: integer labels [N] (or one-hot [N, num_classes]).

    Returns:
      (mean FID, {class: FID}) with Python floats and int keys.

    Raises:
      ValueError: when a class has fewer than 2 samples in either set.

    Example:
      >>> mean_fid, per_class = intra_fid(real_acts, real_y, fake_acts, fake_y)

    Reference: Miyato & Koyama 2018 (arXiv 1802.05637); FID: Heusel et al. 2017.
    """
    real_acts = _arrays.as_float64(real_acts, "real_acts", ndim=2)
    fake_acts = _arrays.as_float64(fake_acts, "fake_acts", ndim=2)
    real_labels = _labels(real_labels, "real_labels", real_acts.shape[0])
    fake_labels = _labels(fake_labels, "fake_labels", fake_acts.shape[0])
    per_class = {}
    for label in np.unique(real_labels):
        real_c = real_acts[real_labels == label]
        fake_c = fake_acts[fake_labels == label]
        if real_c.shape[0] < 2 or fake_c.shape[0] < 2:
            raise ValueError(
                f"class {int(label)} has {real_c.shape[0]} real and {fake_c.shape[0]} fake "
                "samples; intra-FID needs at least 2 of each per class.")
        per_class[int(label)] = frechet.fid_from_activations(real_c, fake_c)
    return float(np.mean(list(per_class.values()))), per_class
