"""Monitoring: singular values of the weights, metrics.jsonl and TensorBoard (the progress line
is `tfbiggan.progress.Progress`)."""

import json
import os
import time

import numpy as np
import tensorflow as tf


def top_singular_values(kernel, k=3):
    """The k largest singular values of a kernel viewed as a [rest, out] matrix."""
    matrix = np.asarray(kernel, dtype=np.float64)
    matrix = matrix.reshape(-1, matrix.shape[-1])
    if min(matrix.shape) <= max(k, 256):
        values = np.linalg.svd(matrix, compute_uv=False)
    else:
        from scipy.sparse.linalg import svds  # pylint: disable=import-outside-toplevel
        values = np.sort(svds(matrix, k=k, return_singular_vectors=False,
                              random_state=0))[::-1]
    values = list(values[:k]) + [0.0] * max(0, k - len(values))
    return [float(v) for v in values]


def singular_value_report(model, prefix, k=3):
    """{prefix/weight_path/sv0..sv{k-1}: value} for every ≥2-D trainable weight of a model."""
    report = {}
    for weight in model.trainable_weights:
        if len(weight.shape) < 2:
            continue
        for index, value in enumerate(top_singular_values(weight.numpy(), k)):
            report[f"{prefix}/{weight.path}/sv{index}"] = value
    return report


class MetricsWriter:
    """Appends scalars to WORKDIR/metrics.jsonl and writes them to TensorBoard."""

    def __init__(self, workdir, enabled=True):
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.writer = None
        if enabled:
            os.makedirs(workdir, exist_ok=True)
            self.writer = tf.summary.create_file_writer(os.path.join(workdir, "summaries"))

    def write(self, step, scalars, images=None):
        if not self.enabled:
            return
        record = {"step": int(step), "time": time.time()}
        record.update({key: float(value) for key, value in scalars.items()})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        with self.writer.as_default(step=int(step)):
            for key, value in scalars.items():
                tf.summary.scalar(key, float(value))
            for key, value in (images or {}).items():
                tf.summary.image(key, value, max_outputs=1)
        self.writer.flush()

