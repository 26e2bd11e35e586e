"""Periodic evaluation during training and a best checkpoint kept apart from the rolling ones.

Every `eval.every` steps the trainer's EMA generator is scored with its data set's evaluation
suite (`tfbiggan.evaluation.suites`): `eval.metric` plus FID, IS, precision/recall,
density/coverage and within-class variety, each beside its real-vs-real value. The figures go
to metrics.jsonl / TensorBoard (as `eval/NAME` and `eval/NAME_real`) and, when `eval.metric`
improves on the best so far, `trainer.checkpoint` is saved to WORKDIR/best/ (one checkpoint
kept) and WORKDIR/best/best.json records {"step", "metric", "value", "checkpoint"}.
"""

import json
import math
import os
import shutil
import tempfile

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan import evaluation, files, validation

BEST_DIR = "best"
BEST_FILE = "best.json"
FEATURE_NETWORKS = evaluation.suites.FEATURE_NETWORKS

# Hook metric → (registry metric of tfbiggan.evaluation, output key, lower is better).
HOOK_METRICS = {
    "fid": ("fid", "fid", True),
    "kid": ("kid", "kid", True),
    "swd": ("swd", "swd", True),
    "intra_fid": ("intra_fid", "intra_fid", True),
    "ms_ssim": ("ms_ssim", "ms_ssim", True),  # Lower: more diverse samples.
    "is": ("is", "is", False),
    "class_consistency": ("class_consistency", "class_consistency", False),
    "pr": ("pr", "precision", False),
    "precision": ("pr", "precision", False),
    "recall": ("pr", "recall", False),
    "density": ("dc", "density", False),
    "coverage": ("dc", "coverage", False),
    "variety": ("variety", "variety_min", False),  # The least varied class.
}


def default_eval_config():
    """The `eval` section of an experiment config (periodic evaluation is off by default).

    Fields:
      every: evaluate every this many steps (0 = never).
      metric: the figure that selects the best checkpoint, one of `HOOK_METRICS`
        (e.g. "fid", or "coverage"); the standard figures are evaluated beside it.
      num_samples: generated samples per evaluation (at most the real ceiling split's size:
        898 for the digits, 10,000 for Fashion-MNIST).
      truncation: truncation in (0, 1] of the samples (TF-Hub convention).
      feature_network: "auto" (the data set's classifier for the digits and Fashion-MNIST,
        else Inception), "digits", "fashion_mnist" or "inception".
      inception: local path or TF-Hub handle of the Inception network (None: the environment
        variable TFBIGGAN_INCEPTION).
      num_reference: real examples behind the reference (Fashion-MNIST and Inception suites).
      batch_size: images per generator / feature-network call.
      seed: seed of the latents.
      progress: show a progress bar of the extraction (on the chief).
      cache_dir: cache of reference statistics and the digits classifier
        (None: ~/.cache/tfbiggan).

    Example:
      >>> config.eval = default_eval_config()
      >>> config.eval.every, config.eval.metric = 500, "class_consistency"
    """
    c = ml_collections.ConfigDict()
    c.every = 0
    c.metric = "fid"
    c.num_samples = 5000
    c.truncation = 1.0
    c.feature_network = "auto"
    c.inception = ml_collections.config_dict.placeholder(str)
    c.num_reference = 10000
    c.batch_size = 100
    c.seed = 0
    c.progress = True
    c.cache_dir = ml_collections.config_dict.placeholder(str)
    return c


def _write_json(path, payload):
    with files.atomic_write(path) as f:
        json.dump(payload, f, indent=1, sort_keys=True)


class EvaluationHook:
    """Evaluates the EMA generator periodically and keeps the best checkpoint.

    Args:
      config_eval: the `eval` config section (`default_eval_config()` fields; ConfigDict or
        dict; missing fields take the defaults).
      workdir: the training workdir; the best checkpoint goes to WORKDIR/best/.

    Example:
      >>> hook = EvaluationHook(config.eval, workdir)
      >>> for step in ...:                       # inside the training loop
      ...     hook.maybe_evaluate(trainer, step, writer)
    """

    def __init__(self, config_eval, workdir):
        config = default_eval_config()
        fields = dict(config_eval.items()) if config_eval is not None else {}
        unknown = sorted(set(fields) - set(config.keys()))
        if unknown:
            raise ValueError(f"unknown eval config field(s) {unknown}; accepted: "
                             f"{sorted(config.keys())}.")
        config.update(fields)
        self.every = validation.positive_int("eval.every", config.every, allow_zero=True)
        validation.one_of("eval.metric", config.metric, tuple(HOOK_METRICS))
        validation.one_of("eval.feature_network", config.feature_network, FEATURE_NETWORKS)
        validation.positive_int("eval.num_samples", config.num_samples)
        validation.positive_int("eval.num_reference", config.num_reference)
        validation.positive_int("eval.batch_size", config.batch_size)
        validation.boolean("eval.progress", config.progress)
        validation.in_range("eval.truncation", config.truncation, 0.0, 1.0,
                            low_inclusive=False)
        self.config = config
        self.workdir = workdir
        self.best_dir = os.path.join(workdir, BEST_DIR)
        self.registry_name, self.key, self.lower_is_better = HOOK_METRICS[config.metric]
        self._suite = None
        self._manager = None

    @property
    def enabled(self):
        return self.every > 0

    def best(self):
        """The record of WORKDIR/best/best.json for this metric, or None."""
        path = os.path.join(self.best_dir, BEST_FILE)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if record.get("metric") != self.config.metric:
            logging.warning("%s ranks by %r, not by eval.metric %r: the best checkpoint will be "
                            "replaced at the next evaluation.", path, record.get("metric"),
                            self.config.metric)
            return None
        return record

    def is_better(self, value, best_value):
        """Whether `value` improves on `best_value` (None: nothing yet) for this metric."""
        if not math.isfinite(value):
            return False
        if best_value is None:
            return True
        return value < best_value if self.lower_is_better else value > best_value

    def _setup(self, trainer, resolution):
        if self._suite is not None:
            return
        try:
            data_config = trainer.config.data.pipeline.to_dict()
        except AttributeError:
            data_config = None
        c = self.config
        self._suite = evaluation.suite_for(
            data_config, resolution, c.num_samples, c.feature_network, c.inception,
            c.num_reference, c.seed, c.cache_dir)
        # Generation and feature extraction split every batch over the training replicas.
        self._suite.feature_fn = evaluation.split_over_replicas(
            self._suite.feature_fn, getattr(trainer, "strategy", None))

    def evaluate(self, trainer):
        """Scores `trainer.ema_generator` with the data set's suite; returns the figures
        (each beside its `_real` value).

        Under the trainer's strategy (`trainer.strategy`), every batch of generation and
        feature extraction is split over its replicas."""
        generator = trainer.ema_generator
        _, _, resolution = evaluation.source_info(generator)
        self._setup(trainer, resolution)
        names = tuple(dict.fromkeys((self.registry_name,) + tuple(self._suite.metrics)))
        results = evaluation.evaluate_suite(
            generator, self._suite, self.config.num_samples, self.config.truncation,
            batch_size=self.config.batch_size, seed=self.config.seed,
            strategy=getattr(trainer, "strategy", None),
            progress=self.config.progress and getattr(trainer, "is_chief", True),
            metrics=names)
        return {key: value for key, value in results.items() if isinstance(value, float)}

    def _save_best(self, trainer, step):
        if getattr(trainer, "is_chief", True):
            if self._manager is None:
                self._manager = tf.train.CheckpointManager(trainer.checkpoint, self.best_dir,
                                                           max_to_keep=1)
            return self._manager.save(checkpoint_number=int(step))
        # Other workers join the collective save into a scratch directory that is removed.
        scratch = tempfile.mkdtemp(prefix="tfbiggan_worker_best_")
        tf.train.CheckpointManager(trainer.checkpoint, scratch, max_to_keep=1).save(
            checkpoint_number=int(step))
        shutil.rmtree(scratch, ignore_errors=True)
        return None

    def maybe_evaluate(self, trainer, step, writer=None):
        """Evaluates when `step` is a positive multiple of `eval.every`.

        Args:
          trainer: an object with `ema_generator` and `checkpoint` (a tf.train.Checkpoint),
            optionally `config` (for the data source) and `is_chief`.
          step: the current training step.
          writer: optional `tfbiggan.training.monitoring.MetricsWriter`; receives the figures
            as `eval/NAME` scalars (metrics.jsonl and TensorBoard).

        Returns:
          None when no evaluation is due, else the figures plus `is_best` (1.0 when this
          step became the best checkpoint, else 0.0).
        """
        step = int(step)
        if not self.enabled or step <= 0 or step % self.every:
            return None
        results = dict(self.evaluate(trainer))
        value = float(results[self.key])
        best = self.best()
        improved = self.is_better(value, None if best is None else best["value"])
        if improved:
            path = self._save_best(trainer, step)
            if path is not None:
                _write_json(os.path.join(self.best_dir, BEST_FILE),
                            {"step": step, "metric": self.config.metric, "value": value,
                             "checkpoint": os.path.basename(path)})
            logging.info("Step %d: %s %.5f is the best so far; saved %s.", step,
                         self.config.metric, value, path)
        else:
            logging.info("Step %d: %s %.5f (best %.5f at step %d).", step, self.config.metric,
                         value, best["value"], best["step"])
        logging.info("Step %d evaluation:\n%s", step,
                     "\n".join(evaluation.format_table(results, f"step {step}")))
        results["is_best"] = float(improved)
        if writer is not None:
            writer.write(step, {f"eval/{key}": val for key, val in results.items()
                                if np.isfinite(val)})
        return results
