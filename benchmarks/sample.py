"""Sampling throughput (images/s) of a generator in-process and as an exported module.

    python -m benchmarks.sample --resolution=128 --ch=16 --batch=8 --repeats=30
    python -m benchmarks.sample --quick

Variants, all at the same batch size and truncation, given the same z and one-hot y tensors:
eager Keras call, `tf.function`, `tf.function(jit_compile=True)` (XLA), and the module
exported by `export.export_hub` loaded back with `hub.load`: the default export (`module`,
timing `__call__`), the same exported with `jit_compile=True` (`module_xla`), and the
"default" signature of the default export (`signature`). Each variant is warmed up, then timed once per round with the rounds interleaved
(so load changes on a shared machine hit every variant alike); the median is reported.
"""

import statistics
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from tfbiggan import sampling

FLAGS = flags.FLAGS
flags.DEFINE_integer("resolution", 128, "Generator resolution.")
flags.DEFINE_integer("ch", 16, "Channel multiplier.")
flags.DEFINE_integer("num_classes", 1000, "Number of classes.")
flags.DEFINE_integer("batch", 8, "Batch size.")
flags.DEFINE_float("truncation", 0.5, "Truncation.")
flags.DEFINE_integer("warmup", 3, "Untimed calls per variant.")
flags.DEFINE_integer("repeats", 30, "Timed rounds.")
flags.DEFINE_boolean("deep", False, "Benchmark BigGAN-deep instead of BigGAN.")
flags.DEFINE_boolean("quick", False, "Tiny model and few repeats (a smoke run).")
flags.DEFINE_string("variants", "eager,function,xla,module,module_xla,signature", "Variants to time.")


def _generator(resolution, ch, num_classes, deep):
    from tfbiggan.models.biggan import BigGANGenerator  # pylint: disable=import-outside-toplevel
    from tfbiggan.models.biggan_deep import BigGANDeepGenerator  # pylint: disable=import-outside-toplevel
    cls = BigGANDeepGenerator if deep else BigGANGenerator
    generator = cls(resolution, ch=ch, num_classes=num_classes, num_truncation_stats=51)
    generator(np.zeros((1, generator.dim_z), np.float32), np.array([0]))
    return generator


def _variants(generator, names, module_dir):
    def keras_call(z, y, t):
        return generator(z, y, training=False, truncation=t)

    found = {}
    if "eager" in names:
        found["eager"] = keras_call
    if "function" in names:
        found["function"] = tf.function(keras_call)
    if "xla" in names:
        found["xla"] = tf.function(keras_call, jit_compile=True)
    exports = {"module": False, "module_xla": True}
    wanted = [name for name in exports if name in names]
    if "signature" in names and "module" not in wanted:
        wanted.append("module")
    for name in wanted:
        import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel
        from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
        path = f"{module_dir}/{name}"
        export_hub.export_generator(generator, path, {"step": 0},
                                    jit_compile=exports[name])
        module = hub.load(path)
        if name in names:
            found[name] = module
        if name == "module" and "signature" in names:
            signature = module.signatures["default"]
            found["signature"] = lambda z, y, t, s=signature: s(z=z, y=y, truncation=t)[
                "default"]
    return found


def main(argv):
    del argv
    if FLAGS.quick:
        resolution, ch, batch, warmup, repeats = 32, 4, 4, 1, 5
        num_classes = 10
    else:
        resolution, ch, batch = FLAGS.resolution, FLAGS.ch, FLAGS.batch
        warmup, repeats, num_classes = FLAGS.warmup, FLAGS.repeats, FLAGS.num_classes
    generator = _generator(resolution, ch, num_classes, FLAGS.deep)
    z = tf.constant(sampling.truncated_z(batch, generator.dim_z, FLAGS.truncation, 0, "hub"))
    y = tf.constant(sampling.one_hot(sampling.sample_classes(batch, num_classes, 1),
                                     num_classes))
    t = tf.constant(FLAGS.truncation, tf.float32)
    names = [name.strip() for name in FLAGS.variants.split(",") if name.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        variants = _variants(generator, names, f"{tmp}/module")
        reference = None
        for name, fn in variants.items():
            for _ in range(warmup):
                images = np.asarray(fn(z, y, t))
            if reference is None:
                reference = images
            print(f"{name:>12}: max |Δ| vs {next(iter(variants))} "
                  f"{np.abs(images - reference).max():.2e}")
        times = {name: [] for name in variants}
        for _ in range(repeats):
            for name, fn in variants.items():
                start = time.perf_counter()
                np.asarray(fn(z, y, t))
                times[name].append(time.perf_counter() - start)
    kind = "BigGAN-deep" if FLAGS.deep else "BigGAN"
    print(f"\n{kind} {resolution}×{resolution}, ch={ch}, {num_classes} classes, batch {batch}, "
          f"{repeats} rounds after {warmup} warm-up calls (median):")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        relative = (f"  ({medians['xla'] / median:6.1%} of xla)" if "xla" in medians else "")
        print(f"  {name:>12}: {batch / median:8.1f} images/s  {1e3 * median:8.2f} ms/batch"
              f"{relative}")
    print("\ncommand: python -m benchmarks.sample " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    app.run(main)
