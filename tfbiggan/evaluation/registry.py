"""The metrics an evaluation can compute, registered by name (SPEC §7).

Each entry maps a name to function(fake, real, **options) → {output name: float}: `fake` is the
dict of the generated samples' "features", "logits", "labels" and, for the metrics in
`NEEDS_IMAGES`, "images"; `real` is a `RealSide` of the reference images. The same function
applied to a second real split in place of `fake` gives the real-vs-real ceiling.
"""

import numpy as np

from tfbiggan import metrics as metrics_lib
from tfbiggan.metrics import feature_statistics


def _fid(fake, real):
    mu, sigma = feature_statistics.compute_statistics(fake["features"])
    return {"fid": metrics_lib.frechet_distance(*real.statistics, mu, sigma)}


def _inception_score(fake, real, splits=10):
    del real
    mean, std = metrics_lib.inception_score_from_logits(fake["logits"], splits=splits)
    return {"is": mean, "is_std": std}


def _kid(fake, real, **options):
    mean, std = metrics_lib.kid_from_activations(real.features, fake["features"], **options)
    return {"kid": mean, "kid_std": std}


def _precision_recall(fake, real, k=3):
    precision, recall = metrics_lib.precision_recall(real.features, fake["features"], k=k)
    return {"precision": precision, "recall": recall}


def _density_coverage(fake, real, k=5):
    density, coverage = metrics_lib.density_coverage(real.features, fake["features"], k=k)
    return {"density": density, "coverage": coverage}


def _variety(fake, real):
    ratios = list(metrics_lib.class_variety(real.features, real.labels, fake["features"],
                                            fake["labels"]).values())
    return {"variety": float(np.mean(ratios)), "variety_min": float(np.min(ratios)),
            "variety_max": float(np.max(ratios))}


def _intra_fid(fake, real):
    mean, _ = metrics_lib.intra_fid(real.features, real.labels, fake["features"],
                                    fake["labels"])
    return {"intra_fid": mean}


def _swd(fake, real, **options):
    count = min(len(fake["images"]), len(real.images))
    _, average = metrics_lib.sliced_wasserstein(real.images[:count], fake["images"][:count],
                                                **options)
    return {"swd": average}


def _ms_ssim(fake, real, **options):
    del real
    images = fake["images"]
    pairs = len(images) // 2
    if pairs < 1:
        raise ValueError(f"MS-SSIM needs at least 2 samples, got {len(images)}.")
    return {"ms_ssim": metrics_lib.ms_ssim(images[0:2 * pairs:2], images[1:2 * pairs:2],
                                           **options)}


def _class_consistency(fake, real):
    del real
    return {"class_consistency": float(np.mean(np.argmax(fake["logits"], axis=1)
                                               == fake["labels"]))}


# name → function(fake, real, **options) → {output name: float}. `fake` holds the sample
# "features", "logits", "labels" (and "images" for NEEDS_IMAGES); `real` (a RealSide) computes
# reference statistics / features / images on demand. class_consistency is meaningful only
# when the feature network classifies the generator's classes (a data set's classifier).
METRICS = {
    "fid": _fid,
    "is": _inception_score,
    "kid": _kid,
    "pr": _precision_recall,
    "dc": _density_coverage,
    "variety": _variety,
    "intra_fid": _intra_fid,
    "swd": _swd,
    "ms_ssim": _ms_ssim,
    "class_consistency": _class_consistency,
}
NEEDS_IMAGES = ("swd", "ms_ssim")
# What every evaluation reports beside FID / IS: variety and fidelity (SPEC §7).
VARIETY_METRICS = ("pr", "dc", "variety")


def check_metric_names(names):
    """Validates metric names against `METRICS`; returns them as a list without repeats."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or names!r}; accepted: "
                         f"{', '.join(METRICS)}.")
    return names
