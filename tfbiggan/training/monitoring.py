"""Monitoring: singular values of the weights, metrics.jsonl, TensorBoard and a progress line."""

import json
import math
import os
import sys
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


class Progress:
    """One console line: step, iterations/s, ETA and a few scalars."""

    def __init__(self, total, start, stream=sys.stderr, enabled=True):
        self.total, self.start = total, start
        self.stream, self.enabled = stream, enabled
        self.t0 = time.time()

    def update(self, step, scalars):
        if not self.enabled:
            return
        elapsed = time.time() - self.t0
        done = step - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else math.inf
        width = 24
        filled = int(width * step / max(self.total, 1))
        values = " ".join(f"{k}={v:.3f}" for k, v in scalars.items())
        eta_text = f"{eta:5.0f}s" if math.isfinite(eta) else "  ?  "
        self.stream.write(f"\r[{'=' * filled}{'.' * (width - filled)}] {step}/{self.total} "
                          f"{rate:.2f} it/s ETA {eta_text} {values}   ")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
