"""Training-iteration speed: images/s, seconds per iteration, FLOP/s utilisation, peak memory.

python -m benchmarks.train_step                      # all settings, XLA on/off, fp32/bf16
python -m benchmarks.train_step --settings=a --jit=on --precision=float32
python -m benchmarks.train_step --quick              # a small check that the script works

Settings (one iteration = num_d_steps D updates + one G update, real data held in memory):
  a  BigGAN 32×32, ch 32, batch 32, 2 D steps, no attention
  b  BigGAN 128×128, ch 16, batch 8, attention at 64
  c  the paper's BigGAN-128 (ch 96), batch 4
Each (setting, jit, precision) runs in its own process so that peak memory is its own.
FLOPs come from TensorFlow's op statistics of the iteration's graph; utilisation divides the
achieved FLOP/s by this machine's measured peak: a large 3×3 convolution of the same precision,
timed in the same process between consecutive iterations (median over the timed rounds).
"""

import json
import subprocess
import sys

from absl import app, flags

SETTINGS = {
    "a": dict(resolution=32, ch=32, batch=32, num_d_steps=2, attention=()),
    "b": dict(resolution=128, ch=16, batch=8, num_d_steps=2, attention=(64,)),
    "c": dict(resolution=128, ch=96, batch=4, num_d_steps=2, attention=(64,)),
    "quick": dict(resolution=32, ch=4, batch=4, num_d_steps=1, attention=()),
}

_SETTINGS = flags.DEFINE_list("settings", ["a", "b", "c"], "Settings to run.")
_JIT = flags.DEFINE_enum("jit", "both", ["on", "off", "both"], "jit_compile of the iteration.")
_PRECISION = flags.DEFINE_list("precision", ["float32", "mixed_bfloat16"], "dtype policies.")
_ITERS = flags.DEFINE_integer("iters", 5, "Timed iterations (after warm-up).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Warm-up iterations.")
_QUICK = flags.DEFINE_bool("quick", False, "Tiny setting, one precision, few iterations.")
_ONE = flags.DEFINE_string("one", None, "Internal: run one SETTING:JIT:PRECISION, print JSON.")


def run_one(setting, jit, precision, iters, warmup):
    """Builds the setting and times its iteration; returns a dict of figures."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from benchmarks import common  # pylint: disable=import-outside-toplevel
    from tfbiggan.models import BigGANDiscriminator, BigGANGenerator  # pylint: disable=import-outside-toplevel
    from tfbiggan.training.step import GANStep, StepConfig  # pylint: disable=import-outside-toplevel

    common.seed_everything(0)
    s = SETTINGS[setting]
    keras.config.set_dtype_policy(precision)
    generator = BigGANGenerator(s["resolution"], ch=s["ch"], num_classes=1000,
                                attention=s["attention"], num_truncation_stats=0)
    discriminator = BigGANDiscriminator(s["resolution"], ch=s["ch"], num_classes=1000,
                                        attention=s["attention"])
    g_opt = keras.optimizers.Adam(5e-5, beta_1=0.0, beta_2=0.999, epsilon=1e-6)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.999, epsilon=1e-6)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    gan = GANStep(generator, discriminator, g_opt, d_opt,
                  StepConfig(global_batch_size=s["batch"], num_d_steps=s["num_d_steps"],
                             ortho_beta=1e-4))
    examples = s["batch"] * s["num_d_steps"]
    images = tf.random.uniform([examples, s["resolution"], s["resolution"], 3], -1.0, 1.0)
    labels = tf.random.uniform([examples], 0, 1000, dtype=tf.int32)
    step = tf.Variable(0, dtype=tf.int64)
    iteration = tf.function(gan.replica_iteration, jit_compile=jit)

    def once():
        stats = iteration(images, labels, step)
        step.assign_add(1)
        float(stats["g_loss"])  # Waits for the whole iteration.

    # The peak convolution runs between the iterations, so that both see the same machine.
    probe, probe_flops = common.conv_probe(
        tf.float32 if precision == "float32" else tf.bfloat16, quick=setting == "quick")
    seconds, probe_seconds = common.interleaved_median_seconds([once, probe], iters, warmup)
    flops = common.graph_flops(
        tf.function(gan.replica_iteration).get_concrete_function(images, labels, step))
    return {"setting": setting, "jit": jit, "precision": precision,
            "seconds_per_iteration": seconds,
            "images_per_second": s["batch"] * (s["num_d_steps"] + 1) / seconds,
            "gflops_per_iteration": flops / 1e9, "achieved_gflops": flops / seconds / 1e9,
            "peak_conv_gflops": probe_flops / probe_seconds / 1e9,
            "peak_rss_mb": common.peak_rss_mb()}


def main(argv):
    del argv
    if _ONE.value:
        setting, jit, precision = _ONE.value.split(":")
        print(json.dumps(run_one(setting, jit == "on", precision, _ITERS.value, _WARMUP.value)))
        return
    from benchmarks import common  # pylint: disable=import-outside-toplevel
    settings = ["quick"] if _QUICK.value else _SETTINGS.value
    jits = {"on": ["on"], "off": ["off"], "both": ["off", "on"]}[_JIT.value]
    precisions = ["float32"] if _QUICK.value else _PRECISION.value
    iters, warmup = (2, 1) if _QUICK.value else (_ITERS.value, _WARMUP.value)
    print(f"machine: {common.machine_line()}")
    print(f"measured peak: matmul {common.matmul_peak_gflops(quick=_QUICK.value):.1f} GFLOP/s "
          f"(float32); 3x3 conv per row (\"peak conv\", same precision, timed in the row's "
          f"process between the iterations), which utilisation divides by")
    print(f"{'setting':8s} {'jit':4s} {'precision':15s} {'s/iter':>8s} {'img/s':>8s} "
          f"{'GFLOP/iter':>11s} {'GFLOP/s':>8s} {'peak conv':>9s} {'util':>6s} {'peak MB':>8s}")
    rows = []
    for setting in settings:
        for precision in precisions:
            for jit in jits:
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.train_step",
                     f"--one={setting}:{jit}:{precision}", f"--iters={iters}",
                     f"--warmup={warmup}"], capture_output=True, text=True, check=False)
                if out.returncode:
                    print(f"{setting:8s} {jit:4s} {precision:15s} failed: "
                          f"{out.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                row["utilisation"] = row["achieved_gflops"] / row["peak_conv_gflops"]
                rows.append(row)
                print(f"{setting:8s} {jit:4s} {precision:15s} "
                      f"{row['seconds_per_iteration']:8.3f} {row['images_per_second']:8.1f} "
                      f"{row['gflops_per_iteration']:11.2f} {row['achieved_gflops']:8.1f} "
                      f"{row['peak_conv_gflops']:9.1f} {row['utilisation']:6.1%} "
                      f"{row['peak_rss_mb']:8.0f}", flush=True)
    print(f"command: {common.command_line()}")
    if not rows:
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
