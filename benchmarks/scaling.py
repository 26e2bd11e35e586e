"""How the training iteration scales: batch size, resolution, and two replicas vs one device.

python -m benchmarks.scaling
python -m benchmarks.scaling --quick

Batch sweep: BigGAN 32×32, ch 16, 1 D step, batch 8 → 64. Resolution sweep: ch 8, batch 8,
32 → 128. Replicas: the batch-32 setting under MirroredStrategy on two logical CPU devices
against the default strategy on one (same global batch). Every point compiles the iteration
the same way (`--jit`: without XLA by default, as the trainer does on CPUs). Medians of timed
iterations after warm-up; every configuration runs in its own process.
"""

import json
import subprocess
import sys

from absl import app, flags

_QUICK = flags.DEFINE_bool("quick", False, "One tiny point on one and on two replicas.")
_ITERS = flags.DEFINE_integer("iters", 5, "Timed iterations.")
_JIT = flags.DEFINE_bool("jit", False, "Compile each replica's iteration with XLA.")
_ONE = flags.DEFINE_string("one", None, "Internal: RESOLUTION:CH:BATCH:REPLICAS.")


def run_one(resolution, ch, batch, replicas, iters, jit=False):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if replicas > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * replicas)
    import keras  # pylint: disable=import-outside-toplevel
    from benchmarks import common  # pylint: disable=import-outside-toplevel
    from tfbiggan.models import BigGANDiscriminator, BigGANGenerator  # pylint: disable=import-outside-toplevel
    from tfbiggan.training.step import GANStep, StepConfig  # pylint: disable=import-outside-toplevel

    common.seed_everything(0)
    strategy = (tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]])
        if replicas > 1 else tf.distribute.get_strategy())
    with strategy.scope():
        generator = BigGANGenerator(resolution, ch=ch, num_classes=10, attention=(),
                                    num_truncation_stats=0, synchronized_bn=replicas > 1)
        discriminator = BigGANDiscriminator(resolution, ch=ch, num_classes=10, attention=())
        g_opt = keras.optimizers.Adam(2e-4, beta_1=0.0)
        d_opt = keras.optimizers.Adam(2e-4, beta_1=0.0)
        g_opt.build(generator.trainable_variables)
        d_opt.build(discriminator.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64)
    gan = GANStep(generator, discriminator, g_opt, d_opt,
                  StepConfig(global_batch_size=batch, num_d_steps=1))
    images = tf.random.uniform([batch, resolution, resolution, 3], -1.0, 1.0)
    labels = tf.random.uniform([batch], 0, 10, dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(
        dataset.unbatch().batch(batch, drop_remainder=True)))
    replica_fn = (tf.function(gan.replica_iteration, jit_compile=True) if jit
                  else gan.replica_iteration)

    @tf.function
    def iteration():
        x, y = next(iterator)
        stats = strategy.run(replica_fn, args=(x, y, step))
        step.assign_add(1)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, stats["g_loss"], axis=None)

    seconds = common.median_seconds(lambda: float(iteration()), iters, warmup=2)
    return {"resolution": resolution, "ch": ch, "batch": batch, "replicas": replicas,
            "jit": bool(jit), "seconds_per_iteration": seconds,
            "images_per_second": 2 * batch / seconds}


def _run(resolution, ch, batch, replicas, iters, jit):
    out = subprocess.run([sys.executable, "-m", "benchmarks.scaling",
                          f"--one={resolution}:{ch}:{batch}:{replicas}", f"--iters={iters}",
                          f"--jit={jit}"],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    if _ONE.value:
        resolution, ch, batch, replicas = (int(v) for v in _ONE.value.split(":"))
        print(json.dumps(run_one(resolution, ch, batch, replicas, _ITERS.value, _JIT.value)))
        return
    from benchmarks import common  # pylint: disable=import-outside-toplevel
    quick = _QUICK.value
    iters = 2 if quick else _ITERS.value
    print(f"machine: {common.machine_line()}; XLA: {'on' if _JIT.value else 'off'}")
    print(f"{'sweep':11s} {'res':>4s} {'ch':>3s} {'batch':>5s} {'replicas':>8s} "
          f"{'s/iter':>8s} {'img/s':>8s}")
    points = [("batch", 32, 4, 8, 1), ("replicas", 32, 4, 8, 2)] if quick else (
        [("batch", 32, 16, b, 1) for b in (8, 16, 32, 64)]
        + [("resolution", r, 8, 8, 1) for r in (32, 64, 128)]
        + [("replicas", 32, 16, 32, n) for n in (1, 2)])
    for sweep, resolution, ch, batch, replicas in points:
        row = _run(resolution, ch, batch, replicas, iters, _JIT.value)
        print(f"{sweep:11s} {resolution:4d} {ch:3d} {batch:5d} {replicas:8d} "
              f"{row['seconds_per_iteration']:8.3f} {row['images_per_second']:8.1f}",
              flush=True)
    print(f"command: {common.command_line()}")


if __name__ == "__main__":
    app.run(main)
