"""Evaluation suites: the feature network, the real reference and the real ceiling of a data set.

Every figure a suite reports stands beside its real-vs-real value: the same metric between the
reference and a second, disjoint real split of the size of the generated set, through the same
feature network (SPEC §7), with the generated classes matched to that split's.

- digits: the digits classifier; all 1,797 digits split in two class-stratified halves
  (reference and ceiling).
- fashion_mnist: the Fashion-MNIST classifier; 10,000 training images (reference) and the
  10,000 test images (ceiling).
- any other data config: the Inception network; `num_reference` examples of the seeded
  input pipeline (reference) and the next ones (ceiling).
"""

import dataclasses
import os

import numpy as np
from absl import logging

from tfbiggan.evaluation import generation, report, sweep
from tfbiggan.evaluation.reference import RealImages
from tfbiggan.evaluation.run import ceiling_classes, evaluate
from tfbiggan.metrics import classifier as classifier_lib

# What every suite reports: FID and IS, then variety and fidelity beside them.
STANDARD_METRICS = ("fid", "is", "pr", "dc", "variety")
FEATURE_NETWORKS = ("auto", "digits", "fashion_mnist", "inception")


@dataclasses.dataclass
class Suite:
    """How a data set's generators are evaluated.

    Attributes:
      name: "digits", "fashion_mnist" or "inception".
      feature_fn: images → (features, logits).
      feature_name: the feature network's cache-key name (None: derived from it).
      reference: the real images the metrics compare with.
      ceiling: the disjoint real split that gives the real-vs-real values.
      metrics: the metric names evaluated.
      class_names: names of the classes (None: unknown).
      cache_dir: cache of real statistics and features.
    """
    name: str
    feature_fn: object
    feature_name: object
    reference: RealImages
    ceiling: RealImages
    metrics: tuple
    class_names: tuple = None
    cache_dir: str = None

    @property
    def classifier_accuracy(self):
        """The feature network's held-out accuracy when it is a trained classifier."""
        return getattr(self.feature_fn, "accuracy", None)


def _stratified_halves(labels, seed=0):
    rng = np.random.default_rng(seed)
    first, second = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        first.append(members[:len(members) // 2])
        second.append(members[len(members) // 2:])
    return (rng.permutation(np.concatenate(first)), rng.permutation(np.concatenate(second)))


def _cache(cache_dir):
    return os.fspath(cache_dir or classifier_lib.DEFAULT_CACHE_DIR)


def digits_suite(resolution=32, cache_dir=None):
    """The digits: their classifier; two class-stratified halves of all 1,797 digits."""
    # pylint: disable=import-outside-toplevel
    from tfbiggan.data import digits as digits_data
    from tfbiggan.metrics import digits as digits_metrics
    images, labels = digits_data.load_digits_images(resolution, channels=1)
    first, second = _stratified_halves(labels)
    return Suite(
        "digits", digits_metrics.load_digits_classifier(resolution, cache_dir=cache_dir), None,
        RealImages.from_arrays(images[first], labels[first], name="digits-half-a"),
        RealImages.from_arrays(images[second], labels[second], name="digits-half-b"),
        STANDARD_METRICS + ("class_consistency",), digits_data.CLASS_NAMES, _cache(cache_dir))


def fashion_mnist_suite(resolution=32, num_reference=10_000, cache_dir=None, path=None):
    """Fashion-MNIST: its classifier; `num_reference` training images (a seeded subset) and
    the 10,000 test images."""
    # pylint: disable=import-outside-toplevel
    from tfbiggan.data import idx
    from tfbiggan.metrics import fashion_mnist
    x_train, y_train, x_test, y_test = fashion_mnist.fashion_mnist_split(resolution, path)
    chosen = np.random.default_rng(0).permutation(len(y_train))[:num_reference]
    classifier = fashion_mnist.load_fashion_mnist_classifier(resolution, cache_dir=cache_dir)
    return Suite(
        "fashion_mnist", classifier, None,
        RealImages.from_arrays(x_train[chosen], y_train[chosen], name="fashion_mnist-train"),
        RealImages.from_arrays(x_test, y_test, name="fashion_mnist-test"),
        STANDARD_METRICS + ("class_consistency",), idx.FASHION_MNIST.class_names,
        _cache(cache_dir))


def data_suite(data_config, resolution, num_samples, inception=None, num_reference=10_000,
               seed=0, cache_dir=None, class_names=None):
    """Any data config with the Inception network: `num_reference` examples of the seeded,
    unflipped pipeline as the reference, the next `num_samples` as the ceiling."""
    from tfbiggan import metrics  # pylint: disable=import-outside-toplevel
    return Suite(
        "inception", metrics.load_inception(inception), "inception_v3",
        RealImages.from_data_config(data_config, resolution, num_reference, seed=seed),
        RealImages.from_data_config(data_config, resolution, num_samples, seed=seed,
                                    skip=num_reference),
        STANDARD_METRICS, class_names, _cache(cache_dir))


def data_set_name(data_config):
    """"digits", "fashion_mnist" or None (another data set) for a data config dict."""
    data_config = data_config or {}
    source, name = data_config.get("source"), data_config.get("name")
    if source == "digits":
        return "digits"
    if name == "fashion_mnist" and source in ("idx", "tfds"):
        return "fashion_mnist"
    return None


def suite_for(data_config, resolution, num_samples, feature_network="auto", inception=None,
              num_reference=10_000, seed=0, cache_dir=None):
    """The suite of a run's data config.

    Args:
      data_config: the run's data config (a dict; None: only an explicit classifier works).
      resolution: the generator's resolution.
      num_samples: generated samples per evaluation (the ceiling's size).
      feature_network: "auto" (the data set's classifier for the digits and Fashion-MNIST
        unless `inception` is given, else Inception), "digits", "fashion_mnist" or
        "inception".
      inception: local path or TF-Hub handle of the Inception network.
      num_reference: real examples behind the reference (Inception suites).
      seed: seed of the real examples' order (Inception suites).
      cache_dir: cache of classifiers, statistics and features (default ~/.cache/tfbiggan).
    """
    if feature_network not in FEATURE_NETWORKS:
        raise ValueError(f"`feature_network` must be one of {FEATURE_NETWORKS}, got "
                         f"{feature_network!r}.")
    if feature_network == "auto":
        feature_network = (data_set_name(data_config) if inception is None else None) \
            or "inception"
    if feature_network == "digits":
        return digits_suite(resolution, cache_dir)
    if feature_network == "fashion_mnist":
        path = (data_config or {}).get("path") if (data_config or {}).get("source") == "idx" \
            else None
        return fashion_mnist_suite(resolution, num_reference, cache_dir, path)
    if data_config is None:
        raise ValueError("the Inception suite needs the run's data config for its real "
                         "images; pass --data=source=...,path=... .")
    return data_suite(data_config, resolution, num_samples, inception, num_reference, seed,
                      cache_dir)


def evaluate_suite(generator, suite, num_samples=None, truncation=1.0, truncations=(),
                   batch_size=100, seed=0, strategy=None, progress=False, metrics=None):
    """Evaluates a generator (or a loaded export) with a suite.

    Args:
      generator: a tfbiggan generator or a loaded export.
      suite: a `Suite`.
      num_samples: generated samples (None, or more than the ceiling split holds: the
        ceiling's size).
      truncation: truncation of the main figures.
      truncations: truncations of a sweep (empty: no sweep).
      batch_size, seed, strategy, progress: as for `evaluate`.
      metrics: metric names (default: the suite's).

    Returns:
      The figures of `evaluate` (each with its `_real` value), plus `classifier_accuracy`
      (when the feature network is a classifier), `truncation`, `num_samples`, and with
      `truncations` the sweep rows under `truncation_curve` (the last row the real one).

    Example:
      >>> suite = fashion_mnist_suite(32)
      >>> results = evaluate_suite(generator, suite, 10000, truncations=(0.3, 0.6, 1.0))
    """
    names = tuple(metrics or suite.metrics)
    available = suite.ceiling.num_examples
    if num_samples is None or num_samples > available:
        if num_samples is not None:
            logging.info("Evaluating %d samples: the real ceiling split %s holds %d images.",
                         available, suite.ceiling.name, available)
        num_samples = available
    classes = ceiling_classes(suite.ceiling, num_samples, batch_size)
    common = dict(reference=suite.reference, batch_size=batch_size, seed=seed, classes=classes,
                  cache_dir=suite.cache_dir, feature_name=suite.feature_name)
    results = evaluate(generator, suite.feature_fn, names, num_samples, truncation,
                       ceiling=suite.ceiling, strategy=strategy, progress=progress, **common)
    results.update({"truncation": float(truncation), "num_samples": int(num_samples)})
    if suite.classifier_accuracy is not None:
        results["classifier_accuracy"] = float(suite.classifier_accuracy)
    if truncations:
        results["truncation_curve"] = sweep.truncation_sweep(
            generator, suite.feature_fn, truncations, num_samples, metrics=names,
            ceiling=suite.ceiling, strategy=strategy, **common)
    return results


def write_outputs(results, output_dir, title):
    """Writes a sweep's `truncation_curve.csv` and `.png` into `output_dir`; returns paths."""
    rows = results["truncation_curve"]
    return (report.write_curve_csv(rows, os.path.join(output_dir, "truncation_curve.csv")),
            report.plot_truncation_curve(rows, os.path.join(output_dir, "truncation_curve.png"),
                                         title=title))


def evaluate_digits(generator, num_samples=None, truncations=(), cache_dir=None,
                    output_dir=None, truncation=1.0, batch_size=100, seed=0):
    """`evaluate_suite` with the digits suite (and, with `output_dir` and `truncations`, the
    truncation curve written there).

    Example:
      >>> results = evaluate_digits(generator, truncations=(0.4, 1.0), output_dir="/tmp/d")
    """
    _, num_classes, resolution = generation.source_info(generator)
    if num_classes != 10:
        raise ValueError(f"the digits generator must have 10 classes, got {num_classes}.")
    suite = digits_suite(resolution, cache_dir)
    results = evaluate_suite(generator, suite, num_samples or suite.ceiling.num_examples,
                             truncation, truncations if output_dir else (), batch_size, seed)
    if output_dir is not None and truncations:
        write_outputs(results, output_dir, "Digits")
    return results
