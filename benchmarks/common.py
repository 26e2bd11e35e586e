"""Helpers shared by the benchmark scripts: timing, peak memory, machine line, peak FLOP/s."""

import os
import platform
import resource
import statistics
import sys
import time

import numpy as np
import tensorflow as tf


def machine_line():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}")


def peak_rss_mb():
    """Peak resident memory of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_seconds(fn, repeats, warmup=1):
    """Median wall time of `fn()` (which must block until its work is done)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def graph_flops(concrete_function):
    """Floating-point operations of one call of a concrete function, from TF's op statistics
    (convolutions and matrix products forward and backward, element-wise ops)."""
    from tensorflow.python.profiler import model_analyzer, option_builder  # pylint: disable=import-outside-toplevel
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(model_analyzer.profile(concrete_function.graph, options=options).total_float_ops)


def interleaved_median_seconds(fns, repeats, warmup=1):
    """Median wall time of each of `fns` (each blocks until done), called in turn within every
    round, so that a change of machine speed during the run affects them all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def conv_probe(dtype=tf.float32, quick=False):
    """A large 3×3 convolution: returns (blocking callable, FLOPs per call)."""
    batch, size, channels = (4, 32, 64) if quick else (8, 64, 256)
    x = tf.cast(tf.random.normal([batch, size, size, channels]), dtype)
    k = tf.cast(tf.random.normal([3, 3, channels, channels]), dtype)
    conv = tf.function(lambda: tf.reduce_sum(tf.cast(tf.nn.conv2d(x, k, 1, "SAME"), tf.float32)))
    return (lambda: conv().numpy()), 2 * batch * size * size * 9 * channels * channels


def matmul_peak_gflops(quick=False, repeats=5):
    """This machine's float32 FLOP/s for a large matrix product."""
    n = 1024 if quick else 4096
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return 2 * n ** 3 / median_seconds(lambda: matmul().numpy(), repeats) / 1e9


def command_line():
    return "python -m benchmarks." + os.path.basename(sys.argv[0]).removesuffix(".py") + (
        " " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "")


def seed_everything(seed=0):
    np.random.seed(seed)
    tf.random.set_seed(seed)
