"""Real images for the reference side of the metrics, their features and cached statistics.

A `RealImages` names its images and carries a fingerprint of what determines them (the array
bytes, or a data config's settings and files); cached statistics and features are keyed by
that fingerprint, the feature network and the resolution, so two different data sets (or an
edited one) never share a cache entry.
"""

import functools
import hashlib
import os
import re

import numpy as np
from absl import logging

from tfbiggan import files, validation
from tfbiggan.evaluation.progress import with_progress
from tfbiggan.evaluation.replicas import SplitOverReplicas, split_over_replicas
from tfbiggan.metrics import classifier as classifier_lib
from tfbiggan.metrics import feature_statistics


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(text)).strip("-") or "none"


class RealImages:
    """Real images (and labels) for the reference side of the metrics.

    Args:
      name: a readable name of the images (in log lines and cache file names).
      batches_fn: callable batch_size → iterable of (images [B, R, R, C] in [-1, 1], labels
        [B] or None) NumPy batches covering the images once.
      num_examples: number of images the batches hold.
      resolution: image side R.
      fingerprint: hex digest of what determines the images (same fingerprint = same images).

    Example:
      >>> reference = RealImages.from_arrays(images, labels, name="digits-a")
    """

    def __init__(self, name, batches_fn, num_examples, resolution, fingerprint):
        self.name = _slug(name)
        self.batches_fn = batches_fn
        self.num_examples = validation.positive_int("num_examples", num_examples)
        self.resolution = validation.positive_int("resolution", resolution)
        if not isinstance(fingerprint, str) or not fingerprint:
            raise ValueError(f"`fingerprint` must be a non-empty string, got {fingerprint!r}.")
        self.fingerprint = fingerprint

    def batches(self, batch_size):
        return self.batches_fn(batch_size)

    @property
    def key(self):
        """`{name}-{fingerprint prefix}`: the images' part of cache file names."""
        return f"{self.name}-{self.fingerprint[:16]}"

    @classmethod
    def from_arrays(cls, images, labels=None, name="arrays"):
        """Reference from in-memory images [N, R, R, C] in [-1, 1] (C = 1 or 3)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[1] != images.shape[2]:
            raise ValueError(f"`images` must have shape [N, R, R, 1 or 3], got {images.shape}.")
        digest = hashlib.sha256(images.tobytes())
        digest.update(str(images.shape).encode())
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (images.shape[0],):
                raise ValueError(f"`labels` must have shape [{images.shape[0]}], got "
                                 f"{labels.shape}.")
            digest.update(labels.astype(np.int64).tobytes())

        def batches(batch_size):
            for start in range(0, images.shape[0], batch_size):
                yield (images[start:start + batch_size],
                       None if labels is None else labels[start:start + batch_size])

        return cls(name, batches, images.shape[0], images.shape[1], digest.hexdigest())

    @classmethod
    def from_data_config(cls, data_config, resolution, num_examples, seed=0, skip=0,
                         name=None):
        """Reference from a data config (`tfbiggan.data.default_config()` fields).

        The images are examples [skip, skip + num_examples) of one pass over the seeded,
        unflipped input pipeline, so `skip` gives a split disjoint from an earlier one.

        Raises:
          ValueError: the data holds fewer than skip + num_examples examples (raised when the
            images are first read).
        """
        # pylint: disable=import-outside-toplevel
        from tfbiggan.data import fingerprint, pipeline
        config = pipeline.resolve_config(data_config, random_flip=False)
        num_examples = validation.positive_int("num_examples", num_examples)
        skip = validation.positive_int("skip", skip, allow_zero=True)
        if name is None:
            dataset = config.name or (os.path.basename(os.path.normpath(config.path))
                                      if config.path else "")
            name = f"{config.source}-{dataset}-{config.split}"
        digest = fingerprint.data_fingerprint(config, resolution=resolution, seed=seed,
                                              skip=skip, num_examples=num_examples)

        def batches(batch_size):
            dataset = pipeline.make_dataset(config, resolution, batch_size, seed, repeat=False)
            wanted, seen, done = skip + num_examples, 0, 0
            for images, labels in dataset:
                images, labels = images.numpy(), labels.numpy()
                begin = max(0, skip - seen)
                end = min(len(images), wanted - seen)
                seen += len(images)
                if end > begin:
                    yield images[begin:end], labels[begin:end]
                    done += end - begin
                if seen >= wanted:
                    return
            raise ValueError(
                f"the data {name!r} holds {seen} examples, fewer than the {wanted} needed for "
                f"examples [{skip}, {wanted}) of the real images; evaluate with fewer real "
                "images (e.g. a smaller --num_reference / --num_samples).")

        return cls(name, batches, num_examples, resolution, digest)


def feature_network_name(feature_fn):
    """A cache-key name for a feature network; trained classifiers carry a weight digest."""
    if isinstance(feature_fn, SplitOverReplicas):
        feature_fn = feature_fn.fn
    if isinstance(feature_fn, classifier_lib.FeatureClassifier):
        digest = hashlib.sha1()
        for weight in feature_fn.model.weights:
            digest.update(np.asarray(weight.numpy()).tobytes())
        return f"{feature_fn.name or 'classifier'}_classifier-{digest.hexdigest()[:10]}"
    name = getattr(feature_fn, "__name__", None)
    if not name or name == "<lambda>":
        raise ValueError(f"cannot name the feature network {feature_fn!r} for the reference "
                         "cache; pass `feature_name=` (e.g. 'inception_v3').")
    return _slug(name)


def extract(feature_fn, batches, total, what, log_every, keep_images=False, progress=False):
    """Runs `feature_fn` over (images, labels) batches → dict of concatenated arrays
    ("features", "logits", "labels" and, with `keep_images`, "images"; None when absent)."""
    out = {"features": [], "logits": [], "labels": [], "images": []}
    done = 0
    batches = with_progress(batches, total, what, progress)
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


class RealSide:
    """Statistics, features and images of a `RealImages`, each computed (or loaded from the
    cache) on first use.

    Args:
      reference: a `RealImages`, or None when only `reference_stats` are given.
      reference_stats: (mu, sigma) to use for FID instead of computing them.
      feature_fn: images → (features, logits).
      feature_name: the feature network's cache-key name (None: `feature_network_name`).
      cache_dir: cache directory (None: no caching).
      batch_size: images per feature-network call.
      log_every: log progress every this many batches.
      progress: draw a progress bar.
    """

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
        key = f"{self.reference.key}_{name}_{self.reference.resolution}px{suffix}.npz"
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
        for images, _ in with_progress(reference.batches(self.batch_size),
                                       reference.num_examples, "real images", self.progress):
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
        out = extract(self.feature_fn, reference.batches(self.batch_size),
                      reference.num_examples, "real images", self.log_every,
                      progress=self.progress)
        out = {key: value for key, value in out.items() if value is not None and key != "images"}
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with files.atomic_write(path, "wb") as f:
                np.savez(f, **out)
        return out

    @property
    def features(self):
        return self.extracted["features"]

    @property
    def logits(self):
        return self.extracted["logits"]

    @property
    def labels(self):
        labels = self.extracted.get("labels")
        if labels is None:
            raise ValueError(f"the reference {self.reference.name!r} has no labels; "
                             "class-wise metrics need labelled real images.")
        return labels

    @functools.cached_property
    def images(self):
        reference = self._need_reference("SWD")
        return np.concatenate([b[0] for b in reference.batches(self.batch_size)])

    def as_samples(self, keep_images=False):
        """The real images as the `samples` dict the metrics take for generated images."""
        samples = {"features": self.features, "logits": self.logits,
                   "labels": self.extracted.get("labels")}
        samples["images"] = self.images if keep_images else None
        return samples


def reference_statistics(reference, feature_fn, cache_dir=None, feature_name=None,
                         batch_size=100, strategy=None):
    """(mu, sigma) of the features of `reference`, streamed through `RunningStatistics`.

    With `cache_dir`, the statistics are loaded from (or saved to) the `.npz` file keyed by
    (reference name and fingerprint, feature network, resolution), so they are computed once
    per key. With a multi-replica `strategy`, each batch is split over its replicas.

    Example:
      >>> mu, sigma = reference_statistics(reference, classifier, "/tmp/cache")
    """
    side = RealSide(reference, None, split_over_replicas(feature_fn, strategy), feature_name,
                    cache_dir, validation.positive_int("batch_size", batch_size), 10)
    return side.statistics
