"""One evaluation: sample a generator, extract features, compute the named metrics, and the same
metrics for a second real split (the real data's ceiling)."""

import numpy as np
from absl import logging

from tfbiggan import validation
from tfbiggan.evaluation import generation, registry
from tfbiggan.evaluation.reference import RealSide, extract
from tfbiggan.evaluation.replicas import split_over_replicas


def check_metric_names(names):
    """Validates metric names against `registry.METRICS`; returns them as a list without
    repeats."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in registry.METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or names!r}; accepted: "
                         f"{', '.join(registry.METRICS)}.")
    return names


def _compute(names, samples, real, options):
    results = {}
    for name in names:
        results.update(registry.METRICS[name](samples, real, **options.get(name, {})))
    return results


def evaluate(generator_or_module, feature_fn, metrics=("fid", "is"), num_samples=10000,
             truncation=1.0, reference=None, reference_stats=None, batch_size=100, seed=0,
             classes=None, cache_dir=None, feature_name=None, options=None, log_every=10,
             strategy=None, progress=False, ceiling=None):
    """Samples `num_samples` images and computes the named metrics (and their real ceiling).

    Args:
      generator_or_module: a tfbiggan generator or a loaded export (see
        `generation.sample_images`).
      feature_fn: callable images [B, R, R, C] in [-1, 1] → (features [B, F], logits [B, K]),
        e.g. `metrics.load_inception(path)` or `metrics.load_fashion_mnist_classifier(R)`.
      metrics: names from `registry.METRICS` (a sequence or a comma-separated string): fid,
        is, kid, pr (precision, recall), dc (density, coverage), variety (within-class
        variety: mean, min and max over classes), intra_fid, swd, ms_ssim,
        class_consistency.
      num_samples: generated images.
      truncation: truncation in (0, 1] (TF-Hub convention).
      reference: a `RealImages` for the metrics that compare with real images.
      reference_stats: (mu, sigma) of the reference features, used for FID instead of
        computing them from `reference`.
      batch_size: images per generator / feature-network call.
      seed: seed of the latents and classes.
      classes: None (uniform random), one class id or [num_samples] class ids.
      cache_dir: directory caching the real statistics and features as `.npz`, keyed by the
        images' name and fingerprint, the feature network and the resolution; None disables
        caching.
      feature_name: name of the feature network in the cache key (default: derived from it).
      options: {metric name: keyword arguments}, e.g. {"kid": {"subset_size": 100}}.
      log_every: log progress every this many batches.
      strategy: a tf.distribute strategy (e.g. the training strategy): with several replicas,
        every batch of generation and feature extraction is split over them; the figures are
        those of one device.
      progress: report the extraction's progress (a bar on a terminal, log lines elsewhere).
      ceiling: a `RealImages` of real images disjoint from `reference` with at least
        `num_samples` examples; its first `num_samples` stand in for the samples, which
        gives every figure's real-vs-real value. Generate the same classes as it holds
        (`classes=`) for class-wise figures to compare like with like.

    Returns:
      Dict of Python floats: fid; is, is_std; kid, kid_std; precision, recall; density,
      coverage; variety, variety_min, variety_max; intra_fid; swd; ms_ssim (mean over sample
      pairs); class_consistency. With `ceiling`, the same keys again with the suffix
      `_real`.

    Example:
      >>> evaluate(generator, load_digits_classifier(32), "fid,is", num_samples=2000,
      ...          reference=reference, cache_dir="/tmp/tfbiggan_cache")
    """
    names = check_metric_names(metrics)
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"`options` names metric(s) {unknown} that are not evaluated; "
                         f"evaluated: {names}.")
    num_samples = validation.positive_int("num_samples", num_samples)
    if ceiling is not None and ceiling.num_examples < num_samples:
        raise ValueError(f"the real ceiling {ceiling.name!r} holds {ceiling.num_examples} "
                         f"images, fewer than the {num_samples} samples it is compared with; "
                         f"evaluate at most {ceiling.num_examples} samples.")
    feature_fn = split_over_replicas(feature_fn, strategy)
    keep_images = any(name in registry.NEEDS_IMAGES for name in names)
    fake = extract(feature_fn,
                   generation.iter_samples(generator_or_module, num_samples, batch_size,
                                           truncation, seed, classes, log_every, strategy),
                   num_samples, "samples", log_every, keep_images=keep_images,
                   progress=progress)
    real = RealSide(reference, reference_stats, feature_fn, feature_name, cache_dir,
                    batch_size, log_every, progress)
    results = _compute(names, fake, real, options)
    if ceiling is not None:
        held_out = RealSide(ceiling, None, feature_fn, feature_name, cache_dir, batch_size,
                            log_every, progress).as_samples(keep_images)
        held_out = {key: None if value is None else value[:num_samples]
                    for key, value in held_out.items()}
        results.update({f"{key}_real": value
                        for key, value in _compute(names, held_out, real, options).items()})
    logging.info("Evaluation at truncation %g over %d samples: %s", truncation, num_samples,
                 ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
    return results


def ceiling_classes(ceiling, num_samples, batch_size=100):
    """The class ids of the first `num_samples` images of a `RealImages` (int32), to generate
    the same classes as the ceiling split holds."""
    labels = []
    for _, batch_labels in ceiling.batches(batch_size):
        if batch_labels is None:
            raise ValueError(f"the real ceiling {ceiling.name!r} has no labels.")
        labels.append(np.asarray(batch_labels))
        if sum(len(b) for b in labels) >= num_samples:
            break
    labels = np.concatenate(labels)[:num_samples].astype(np.int32)
    if len(labels) < num_samples:
        raise ValueError(f"the real ceiling {ceiling.name!r} holds {len(labels)} images, fewer "
                         f"than {num_samples}.")
    return labels
