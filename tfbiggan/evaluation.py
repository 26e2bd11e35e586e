"""Evaluation runs: sample a generator, extract features, compute the metrics of SPEC §7.

    results = evaluate(generator, load_inception(path), ("fid", "is"), num_samples=10000,
                       truncation=1.0, reference=RealImages.from_data_config(data, 128, 10000),
                       cache_dir="~/.cache/tfbiggan/reference")

Generators are tfbiggan generators or modules loaded from an export (`export.export_hub`).
Latents follow the TF-Hub convention z = t · truncated_normal(±2); a generator whose
truncation bank was filled (`tfbiggan.standing_stats.collect_truncation_bank`) also selects its
batch-norm statistics with `truncation=`, as an exported module does.

Metrics are registered by name in `METRICS` (name → function(fake, real, **options) → dict of
floats). Reference (real-image) statistics are streamed through `RunningStatistics` and cached
as `.npz` per (data set, feature network, resolution).

Under a tf.distribute strategy (`strategy=`, e.g. the training strategy), each batch of
generation and of feature extraction is split over the replicas (`SplitOverReplicas`) and the
outputs are gathered back in order, so the figures equal those of one device.
"""

import functools
import hashlib
import os
import re
import weakref

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import metrics as metrics_lib
from tfbiggan import sampling, validation
from tfbiggan.metrics import digits as digits_metrics
from tfbiggan.metrics import feature_statistics

DEFAULT_TRUNCATIONS = (0.2, 0.4, 0.6, 0.8, 1.0)
_CLASS_SEED = 1  # Second seed component of the class draws; latents use (seed, 0, batch).
_FORWARD = weakref.WeakKeyDictionary()  # generator → its compiled inference call.


# Sampling ------------------------------------------------------------------------------------

def is_exported_module(source):
    """True for a module loaded from an export, False for a tfbiggan generator."""
    return hasattr(source, "signatures") and not hasattr(source, "get_config")


def bank_is_filled(generator):
    """True when `generator` has a truncation bank holding collected statistics."""
    from tfbiggan.layers import normalization  # pylint: disable=import-outside-toplevel
    if not getattr(generator, "num_truncation_stats", 0):
        return False
    layers = [layer for layer in normalization.batch_norm_layers(generator)
              if hasattr(layer, "bank_mean")]
    return any(np.any(layer.bank_mean.numpy()) or np.any(layer.bank_variance.numpy() != 1.0)
               for layer in layers)


def source_info(source):
    """(dim_z, num_classes, resolution) of a tfbiggan generator or an exported module."""
    if is_exported_module(source):
        return (int(source.dim_z.numpy()), int(source.num_classes.numpy()),
                int(source.resolution.numpy()))
    return int(source.dim_z), int(source.num_classes), int(source.resolution)


class SplitOverReplicas:
    """Runs a per-example batch function with each batch split over a strategy's replicas.

    `fn(*tensors)` maps batch-first tensors to a tensor or a tuple of batch-first tensors (a
    generator forward pass, a feature network). Each call splits its NumPy batch into one
    contiguous slice per replica (the last slices are padded by repeating the final example),
    runs `fn` on every replica with `strategy.run` inside one compiled function, and gathers the
    outputs back in the original order, as NumPy arrays. Under MultiWorkerMirroredStrategy every
    worker must make the same calls with the same batches (the gather is a collective).

    Args:
      fn: the batch function; it runs in replica context (variables created under the
        strategy's scope are read from the local replica).
      strategy: a tf.distribute strategy.

    Example:
      >>> split = SplitOverReplicas(classifier, trainer.strategy)
      >>> features, logits = split(images)          # NumPy, as classifier(images) would give
    """

    def __init__(self, fn, strategy):
        self.fn = fn
        self.strategy = strategy
        self.num_replicas = int(strategy.num_replicas_in_sync)
        self._step = tf.function(self._distributed_step, reduce_retracing=True)

    def _distributed_step(self, per_replica_args):
        outputs = self.strategy.run(self.fn, args=per_replica_args)
        return tf.nest.map_structure(lambda t: self.strategy.gather(t, axis=0), outputs)

    def __call__(self, *arrays):
        arrays = [np.asarray(a) for a in arrays]
        count = len(arrays[0])
        if count < 1 or any(len(a) != count for a in arrays):
            raise ValueError(f"the batch arrays must share one non-zero batch size, got "
                             f"{[len(a) for a in arrays]}.")
        per_replica = -(-count // self.num_replicas)
        padding = per_replica * self.num_replicas - count
        if padding:
            arrays = [np.concatenate([a, np.repeat(a[-1:], padding, axis=0)]) for a in arrays]

        def replica_slice(context):
            start = context.replica_id_in_sync_group * per_replica
            return tuple(tf.constant(a[start:start + per_replica]) for a in arrays)

        values = self.strategy.experimental_distribute_values_from_function(replica_slice)
        outputs = self._step(values)
        return tf.nest.map_structure(lambda t: np.asarray(t)[:count], outputs)


def _is_multi_replica(strategy):
    return strategy is not None and int(strategy.num_replicas_in_sync) > 1


def split_over_replicas(fn, strategy):
    """`fn` unchanged without a strategy or with one replica (or when it is already split for
    `strategy`), else `SplitOverReplicas(fn, strategy)`."""
    if not _is_multi_replica(strategy):
        return fn
    if isinstance(fn, SplitOverReplicas) and fn.strategy is strategy:
        return fn
    return SplitOverReplicas(fn, strategy)


def _generator_forward(source, strategy, use_bank):
    """The inference call of a tfbiggan generator, compiled once per (generator, strategy,
    bank use): fn(z, class ids[, truncation column]) → images."""
    by_key = _FORWARD.setdefault(source, {})
    split = _is_multi_replica(strategy)
    key = (strategy if split else None, use_bank)
    forward = by_key.get(key)
    if forward is None:
        generator = weakref.ref(source)  # A strong reference would keep the key alive.
        if use_bank:  # The truncation rides along as a per-example column: every argument is a
            # batch, so it can be split over replicas like z and the labels.
            def fn(z, labels, t):
                return generator()(z, labels, training=False, truncation=t[0])
        else:
            def fn(z, labels):
                return generator()(z, labels, training=False)
        forward = (SplitOverReplicas(fn, strategy) if split
                   else tf.function(fn, reduce_retracing=True))
        by_key[key] = forward
    return forward


def _runner(source, truncation, strategy=None):
    """fn(z, class ids) → NumPy images for one truncation."""
    if is_exported_module(source):
        num_classes = int(source.num_classes.numpy())
        t = tf.constant(truncation, tf.float32)
        return lambda z, labels: np.asarray(source(z, sampling.one_hot(labels, num_classes), t))
    use_bank = bank_is_filled(source)
    if not use_bank:
        logging.info("%s has no filled truncation bank: sampling with its current batch-norm "
                     "statistics (the truncation scales z only).", source.name)
    forward = _generator_forward(source, strategy, use_bank)

    def run(z, labels):
        args = [np.asarray(z, np.float32), np.asarray(labels, np.int32)]
        if use_bank:
            args.append(np.full(len(args[0]), truncation, np.float32))
        return np.asarray(forward(*args))

    return run


def _class_ids(classes, num_samples, num_classes, seed):
    if classes is None:
        return sampling.sample_classes(num_samples, num_classes, (seed, _CLASS_SEED))
    labels = np.asarray(classes)
    if labels.ndim == 0:
        labels = np.full(num_samples, labels)
    if (labels.shape != (num_samples,) or not np.issubdtype(labels.dtype, np.integer)
            or np.any(labels < 0) or np.any(labels >= num_classes)):
        raise ValueError(f"`classes` must be None, one class id or {num_samples} class ids in "
                         f"[0, {num_classes}), got {np.asarray(classes)!r:.200}.")
    return labels.astype(np.int32)


def balanced_classes(num_samples, num_classes):
    """Class ids 0, 1, …, K−1, 0, 1, … [num_samples] (int32): every class equally often."""
    return (np.arange(num_samples) % num_classes).astype(np.int32)


def iter_samples(generator_or_module, num_samples, batch_size=100, truncation=1.0, seed=0,
                 classes=None, log_every=10, strategy=None):
    """Yields (images float32 [B, R, R, 3], class ids int32 [B]) batches; see `sample_images`.

    With a multi-replica `strategy`, each batch of a tfbiggan generator is split over the
    replicas (the same images as on one device)."""
    num_samples = validation.positive_int("num_samples", num_samples)
    batch_size = validation.positive_int("batch_size", batch_size)
    truncation = sampling.check_truncation(truncation, "hub")
    dim_z, num_classes, _ = source_info(generator_or_module)
    labels = _class_ids(classes, num_samples, num_classes, seed)
    run = _runner(generator_or_module, truncation, strategy)
    for index, start in enumerate(range(0, num_samples, batch_size)):
        count = min(batch_size, num_samples - start)
        z = sampling.truncated_z(count, dim_z, truncation, (seed, 0, index), mode="hub")
        batch_labels = labels[start:start + count]
        yield np.asarray(run(z, batch_labels), np.float32), batch_labels
        if (index + 1) % log_every == 0 or start + count == num_samples:
            logging.info("Generated %d / %d samples (truncation %g).", start + count,
                         num_samples, truncation)


def sample_images(generator_or_module, num_samples, batch_size=100, truncation=1.0, seed=0,
                  classes=None):
    """Samples images from a tfbiggan generator or an exported module.

    Batch b uses z = `sampling.truncated_z(B, dim_z, truncation, (seed, 0, b), mode="hub")`
    (the TF-Hub convention). A generator with a filled truncation bank, and every exported
    module, also takes the batch-norm statistics for `truncation` from the bank; other
    generators use their current (standing or moving) statistics.

    Args:
      generator_or_module: a tfbiggan generator or a module loaded with `hub.load` /
        `tf.saved_model.load` from `export.export_hub`.
      num_samples: number of images.
      batch_size: images per generator call.
      truncation: truncation in (0, 1].
      seed: seed of latents and (when `classes` is None) classes.
      classes: None (uniform random classes), one class id, or [num_samples] class ids.

    Returns:
      (images float32 [N, R, R, 3] in [-1, 1], class ids int32 [N]).

    Example:
      >>> images, labels = sample_images(generator, 64, batch_size=32, truncation=0.5, seed=0)
    """
    batches = list(iter_samples(generator_or_module, num_samples, batch_size, truncation,
                                seed, classes))
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))


# Reference data --------------------------------------------------------------------------------

def _slug(text):
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(text)).strip("-") or "none"


class RealImages:
    """Real images (and labels) for the reference side of the metrics.

    Args:
      name: identifies the data set in cache file names (same name = same images).
      batches_fn: callable batch_size → iterable of (images [B, R, R, 3] in [-1, 1], labels
        [B] or None) NumPy batches covering the data set once.
      num_examples: number of images the batches hold.
      resolution: image side R.

    Example:
      >>> reference = RealImages.from_arrays(images, labels, name="digits-train")
    """

    def __init__(self, name, batches_fn, num_examples, resolution):
        self.name = _slug(name)
        self.batches_fn = batches_fn
        self.num_examples = validation.positive_int("num_examples", num_examples)
        self.resolution = validation.positive_int("resolution", resolution)

    def batches(self, batch_size):
        return self.batches_fn(batch_size)

    @classmethod
    def from_arrays(cls, images, labels=None, name="arrays"):
        """Reference from in-memory images [N, R, R, C] in [-1, 1] (C = 1 is repeated to 3)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[1] != images.shape[2]:
            raise ValueError(f"`images` must have shape [N, R, R, 1 or 3], got {images.shape}.")
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (images.shape[0],):
                raise ValueError(f"`labels` must have shape [{images.shape[0]}], got "
                                 f"{labels.shape}.")

        def batches(batch_size):
            for start in range(0, images.shape[0], batch_size):
                yield (images[start:start + batch_size],
                       None if labels is None else labels[start:start + batch_size])

        return cls(name, batches, images.shape[0], images.shape[1])

    @classmethod
    def from_data_config(cls, data_config, resolution, num_examples, seed=0, name=None):
        """Reference from a data config (`tfbiggan.data.default_config()` fields): the first
        `num_examples` preprocessed examples of the seeded, unflipped input pipeline."""
        from tfbiggan.data import pipeline  # pylint: disable=import-outside-toplevel
        config = pipeline.resolve_config(data_config, random_flip=False)
        num_examples = validation.positive_int("num_examples", num_examples)
        if name is None:
            dataset = config.name or (os.path.basename(os.path.normpath(config.path))
                                      if config.path else "")
            name = f"{config.source}-{dataset}-{config.split}-seed{seed}-n{num_examples}"

        def batches(batch_size):
            dataset = pipeline.make_dataset(config, resolution, batch_size, seed)
            done = 0
            for images, labels in dataset:
                count = min(batch_size, num_examples - done)
                yield images.numpy()[:count], labels.numpy()[:count]
                done += count
                if done >= num_examples:
                    return

        return cls(name, batches, num_examples, resolution)


def digits_reference(resolution):
    """The training split of the bundled digits (`metrics.digits.digits_split`) as RGB."""
    images, labels, _, _ = digits_metrics.digits_split(resolution)
    return RealImages.from_arrays(images, labels, name="digits-train")


def feature_network_name(feature_fn):
    """A cache-key name for a feature network; digits classifiers carry a weight digest."""
    if isinstance(feature_fn, SplitOverReplicas):
        feature_fn = feature_fn.fn
    if isinstance(feature_fn, digits_metrics.DigitsClassifier):
        digest = hashlib.sha1()
        for weight in feature_fn.model.weights:
            digest.update(np.asarray(weight.numpy()).tobytes())
        return f"digits_classifier-{digest.hexdigest()[:10]}"
    name = getattr(feature_fn, "__name__", None)
    if not name or name == "<lambda>":
        raise ValueError(f"cannot name the feature network {feature_fn!r} for the reference "
                         "cache; pass `feature_name=` (e.g. 'inception_v3').")
    return _slug(name)


def _with_progress(batches, total, unit, progress):
    """Yields the (images, labels) batches; with `progress`, a Keras progress bar (on stdout)
    counts the images of each batch once the caller has processed it."""
    if not progress:
        yield from batches
        return
    bar = keras.utils.Progbar(total, unit_name=unit)
    done = 0
    for images, labels in batches:
        yield images, labels
        done += len(images)
        bar.update(min(done, total))


def _extract(feature_fn, batches, total, what, log_every, keep_images=False, progress=False):
    """Runs `feature_fn` over (images, labels) batches → dict of concatenated arrays."""
    out = {"features": [], "logits": [], "labels": [], "images": []}
    done = 0
    batches = _with_progress(batches, total, what.split()[-1], progress)
    for index, (images, labels) in enumerate(batches):
        features, logits = feature_fn(images)
        out["features"].append(np.asarray(features, np.float32).reshape(len(images), -1))
        out["logits"].append(np.asarray(logits, np.float32).reshape(len(images), -1))
        if labels is not None:
            out["labels"].append(np.asarray(labels))
        if keep_images:
            out["images"].append(images)
        done += len(images)
        if (index + 1) % log_every == 0 or done >= total:
            logging.info("Extracted features of %d / %d %s.", done, total, what)
    return {key: np.concatenate(value) if value else None for key, value in out.items()}


class _RealSide:
    """Reference statistics, features and images, each computed (or loaded) on first use."""

    def __init__(self, reference, reference_stats, feature_fn, feature_name, cache_dir,
                 batch_size, log_every, progress=False):
        self.reference, self.given_stats = reference, reference_stats
        self.progress = progress
        self.feature_fn, self.feature_name = feature_fn, feature_name
        self.cache_dir, self.batch_size, self.log_every = cache_dir, batch_size, log_every

    def _need_reference(self, what):
        if self.reference is None:
            raise ValueError(f"{what} needs real images: pass `reference=` (a RealImages).")
        return self.reference

    def _cache_path(self, suffix):
        if self.cache_dir is None:
            return None
        name = self.feature_name or feature_network_name(self.feature_fn)
        key = f"{self.reference.name}_{name}_{self.reference.resolution}px{suffix}.npz"
        return os.path.join(os.path.expanduser(os.fspath(self.cache_dir)), key)

    @functools.cached_property
    def statistics(self):
        if self.given_stats is not None:
            mu, sigma = self.given_stats
            return np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
        reference = self._need_reference("FID")
        path = self._cache_path("")
        if path and os.path.isfile(path):
            logging.info("Loading reference statistics from %s.", path)
            return feature_statistics.load_statistics(path)
        stats = feature_statistics.RunningStatistics()
        done = 0
        for images, _ in _with_progress(reference.batches(self.batch_size),
                                        reference.num_examples, "real image", self.progress):
            features, _ = self.feature_fn(images)
            stats.update(np.asarray(features).reshape(len(images), -1))
            done += len(images)
        logging.info("Computed reference statistics over %d images of %s.", done,
                     reference.name)
        if path:
            feature_statistics.save_statistics(path, stats.mean, stats.covariance)
            logging.info("Cached reference statistics in %s.", path)
        return stats.mean, stats.covariance

    @functools.cached_property
    def extracted(self):
        reference = self._need_reference("this metric")
        path = self._cache_path("_features")
        if path and os.path.isfile(path):
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        out = _extract(self.feature_fn, reference.batches(self.batch_size),
                       reference.num_examples, "real images", self.log_every,
                       progress=self.progress)
        out = {key: value for key, value in out.items() if value is not None and key != "images"}
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                np.savez(f, **out)
        return out

    @property
    def features(self):
        return self.extracted["features"]

    @property
    def labels(self):
        labels = self.extracted.get("labels")
        if labels is None:
            raise ValueError(f"the reference {self.reference.name!r} has no labels; "
                             "intra-FID needs labelled real images.")
        return labels

    @functools.cached_property
    def images(self):
        reference = self._need_reference("SWD")
        return np.concatenate([b[0] for b in reference.batches(self.batch_size)])


def reference_statistics(reference, feature_fn, cache_dir=None, feature_name=None,
                         batch_size=100, strategy=None):
    """(mu, sigma) of the features of `reference`, streamed through `RunningStatistics`.

    With `cache_dir`, the statistics are loaded from (or saved to) the `.npz` file named by
    (reference name, feature network, resolution), so they are computed once per key. With a
    multi-replica `strategy`, each batch is split over its replicas.

    Example:
      >>> mu, sigma = reference_statistics(digits_reference(32), classifier, "/tmp/cache")
    """
    side = _RealSide(reference, None, split_over_replicas(feature_fn, strategy), feature_name,
                     cache_dir, validation.positive_int("batch_size", batch_size), 10)
    return side.statistics


# Metric registry -------------------------------------------------------------------------------

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
# "features", "logits", "labels" (and "images" for _NEEDS_IMAGES); `real` computes reference
# statistics / features / images on demand. class_consistency is meaningful only when the
# feature network classifies the generator's classes (the digits classifier).
METRICS = {
    "fid": _fid,
    "is": _inception_score,
    "kid": _kid,
    "pr": _precision_recall,
    "intra_fid": _intra_fid,
    "swd": _swd,
    "ms_ssim": _ms_ssim,
    "class_consistency": _class_consistency,
}
_NEEDS_IMAGES = ("swd", "ms_ssim")


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


def evaluate(generator_or_module, feature_fn, metrics=("fid", "is"), num_samples=10000,
             truncation=1.0, reference=None, reference_stats=None, batch_size=100, seed=0,
             classes=None, cache_dir=None, feature_name=None, options=None, log_every=10,
             strategy=None, progress=False):
    """Samples `num_samples` images and computes the named metrics.

    Args:
      generator_or_module: a tfbiggan generator or a loaded export (see `sample_images`).
      feature_fn: callable images [B, R, R, 3] in [-1, 1] → (features [B, F], logits [B, K]),
        e.g. `metrics.load_inception(path)` or `metrics.load_digits_classifier(R)`.
      metrics: names from `METRICS` (a sequence or a comma-separated string):
        fid, is, kid, pr, intra_fid, swd, ms_ssim, class_consistency.
      num_samples: generated images.
      truncation: truncation in (0, 1] (TF-Hub convention).
      reference: a `RealImages` for the metrics that compare with real images.
      reference_stats: (mu, sigma) of the reference features, used for FID instead of
        computing them from `reference`.
      batch_size: images per generator / feature-network call.
      seed: seed of the latents and classes.
      classes: None (uniform random), one class id or [num_samples] class ids.
      cache_dir: directory caching the reference statistics (and features) as `.npz`, keyed
        by (reference name, feature network, resolution); None disables caching.
      feature_name: name of the feature network in the cache key (default: derived from it).
      options: {metric name: keyword arguments}, e.g. {"kid": {"subset_size": 100}}.
      log_every: log progress every this many batches.
      strategy: a tf.distribute strategy (e.g. the training strategy): with several replicas,
        every batch of generation and feature extraction is split over them
        (`SplitOverReplicas`); the figures are those of one device.
      progress: show a progress bar of the extraction (Keras `Progbar`, on stdout).

    Returns:
      Dict of Python floats: fid; is, is_std; kid, kid_std; precision, recall; intra_fid;
      swd; ms_ssim (mean over sample pairs); class_consistency.

    Example:
      >>> evaluate(generator, load_digits_classifier(32), "fid,is", num_samples=2000,
      ...          reference=digits_reference(32), cache_dir="/tmp/tfbiggan_cache")
    """
    names = check_metric_names(metrics)
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"`options` names metric(s) {unknown} that are not evaluated; "
                         f"evaluated: {names}.")
    num_samples = validation.positive_int("num_samples", num_samples)
    feature_fn = split_over_replicas(feature_fn, strategy)
    fake = _extract(feature_fn,
                    iter_samples(generator_or_module, num_samples, batch_size, truncation,
                                 seed, classes, log_every, strategy),
                    num_samples, "samples", log_every,
                    keep_images=any(name in _NEEDS_IMAGES for name in names),
                    progress=progress)
    real = _RealSide(reference, reference_stats, feature_fn, feature_name, cache_dir,
                     batch_size, log_every, progress)
    results = {}
    for name in names:
        results.update(METRICS[name](fake, real, **options.get(name, {})))
    logging.info("Evaluation at truncation %g over %d samples: %s", truncation, num_samples,
                 ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
    return results


# Truncation sweep ------------------------------------------------------------------------------

CURVE_COLUMNS = ("truncation", "is", "is_std", "fid")


def truncation_sweep(generator, feature_fn, truncations, num_samples, reference_stats,
                     batch_size=100, seed=0, classes=None, splits=10, strategy=None):
    """IS and FID across truncations: the variety–fidelity curve (Brock et al. 2019, Fig. 4).

    Args:
      generator: a tfbiggan generator or a loaded export.
      feature_fn: images → (features, logits).
      truncations: truncation values in (0, 1].
      num_samples: samples per truncation.
      reference_stats: (mu, sigma) of the real features.
      batch_size, seed, classes: as for `evaluate` (the same latents seed at every value).
      splits: Inception Score splits.
      strategy: splits every batch over the replicas of a tf.distribute strategy.

    Returns:
      One dict per truncation with keys `CURVE_COLUMNS` (Python floats).

    Example:
      >>> rows = truncation_sweep(generator, classifier, (0.2, 0.6, 1.0), 1000, (mu, sigma))
      >>> write_curve_csv(rows, "curve.csv"); plot_truncation_curve(rows, "curve.png")
    """
    truncations = [float(t) for t in truncations]
    if not truncations:
        raise ValueError("`truncations` must hold at least one value in (0, 1], got none.")
    feature_fn = split_over_replicas(feature_fn, strategy)  # Compiled once for all values.
    rows = []
    for truncation in truncations:
        result = evaluate(generator, feature_fn, ("is", "fid"), num_samples, truncation,
                          reference_stats=reference_stats, batch_size=batch_size, seed=seed,
                          classes=classes, options={"is": {"splits": splits}},
                          strategy=strategy)
        rows.append({"truncation": truncation, **{k: result[k] for k in CURVE_COLUMNS[1:]}})
    return rows


def write_curve_csv(rows, path):
    """Writes the sweep rows as CSV with header `CURVE_COLUMNS`; returns the path."""
    import csv  # pylint: disable=import-outside-toplevel
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: repr(float(row[key])) for key in CURVE_COLUMNS})
    return path


def read_curve_csv(path):
    """Reads rows written by `write_curve_csv` (floats)."""
    import csv  # pylint: disable=import-outside-toplevel
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(f)]


def plot_truncation_curve(rows, path, title="Truncation sweep"):
    """PNG: FID against IS with each point labelled by its truncation (left), and IS and FID
    against the truncation (right). Uses matplotlib's Agg backend; returns the path."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel

    t = [row["truncation"] for row in rows]
    inception = [row["is"] for row in rows]
    fid = [row["fid"] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(inception, fid, "o-")
    for x, y, value in zip(inception, fid, t):
        left.annotate(f"{value:g}", (x, y), textcoords="offset points", xytext=(4, 4))
    left.set_xlabel("IS (higher: better)")
    left.set_ylabel("FID (lower: better)")
    left.set_title(title)
    right.plot(t, inception, "o-", color="tab:blue")
    right.set_xlabel("truncation")
    right.set_ylabel("IS", color="tab:blue")
    twin = right.twinx()
    twin.plot(t, fid, "s--", color="tab:red")
    twin.set_ylabel("FID", color="tab:red")
    figure.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


# The bundled digits ------------------------------------------------------------------------------

def evaluate_digits(generator, num_samples=2000, truncations=DEFAULT_TRUNCATIONS,
                    cache_dir=None, output_dir=None, truncation=1.0, batch_size=100, seed=0):
    """Scores a digits generator with the digits classifier (the digits' Inception network).

    Samples use balanced classes. FID-digits compares the classifier features of the samples
    with those of the digits' training split; IS-digits is the Inception Score of its logits;
    class consistency is the fraction of samples classified as their conditioning class. The
    same figures for the held-out real digits give the scale: `is_digits_real`,
    `class_consistency_real` and `fid_digits_real` (held-out vs training split).

    Args:
      generator: a tfbiggan generator (10 classes) or a loaded export of one.
      num_samples: samples for the figures (and per truncation of the sweep).
      truncations: truncation values of the sweep (written only with `output_dir`).
      cache_dir: directory of the cached classifier and reference statistics (default
        `~/.cache/tfbiggan`).
      output_dir: if given, writes `truncation_curve.csv` and `truncation_curve.png` there.
      truncation: truncation of the main figures (1.0: no truncation).
      batch_size, seed: sampling batch size and seed.

    Returns:
      Dict with class_consistency, fid_digits, is_digits, is_digits_std, is_digits_real,
      class_consistency_real, fid_digits_real, truncation, and with `output_dir` also
      `truncation_curve` (the sweep rows).

    Example:
      >>> results = evaluate_digits(generator, num_samples=2000, output_dir="/tmp/digits")
    """
    _, num_classes, resolution = source_info(generator)
    if num_classes != 10:
        raise ValueError(f"the digits generator must have 10 classes, got {num_classes}.")
    cache_dir = cache_dir or digits_metrics.DEFAULT_CACHE_DIR
    classifier = metrics_lib.load_digits_classifier(resolution, cache_dir=cache_dir)
    classes = balanced_classes(num_samples, num_classes)
    stats = reference_statistics(digits_reference(resolution), classifier, cache_dir,
                                 batch_size=batch_size)
    fake = evaluate(generator, classifier, ("fid", "is", "class_consistency"), num_samples,
                    truncation, reference_stats=stats, batch_size=batch_size,
                    seed=seed, classes=classes)
    _, _, held_out, held_out_labels = digits_metrics.digits_split(resolution)
    features, logits = (np.asarray(a) for a in classifier(held_out))
    real_is, _ = metrics_lib.inception_score_from_logits(logits)
    held_out_stats = feature_statistics.compute_statistics(features)
    results = {
        "truncation": float(truncation),
        "class_consistency": fake["class_consistency"],
        "fid_digits": fake["fid"],
        "is_digits": fake["is"],
        "is_digits_std": fake["is_std"],
        "is_digits_real": real_is,
        "class_consistency_real": float(np.mean(np.argmax(logits, 1) == held_out_labels)),
        "fid_digits_real": metrics_lib.frechet_distance(*stats, *held_out_stats),
    }
    if output_dir is not None:
        rows = truncation_sweep(generator, classifier, truncations, num_samples,
                                stats, batch_size, seed, classes)
        write_curve_csv(rows, os.path.join(output_dir, "truncation_curve.csv"))
        plot_truncation_curve(rows, os.path.join(output_dir, "truncation_curve.png"),
                              title="Digits: FID-digits vs IS-digits")
        results["truncation_curve"] = rows
    return results
