"""The bundled-digits demo: train, sample, export and evaluate in one command.

python -m tfbiggan.demo --workdir=workdirs/digits

Trains configs/digits.py (resuming if the workdir holds checkpoints), then writes into the
workdir: `samples.png` (one row per class, several truncations), `module/` (the exported
TF-Hub module), `evaluation.json` and the truncation curve (`truncation_curve.csv/.png`), and
prints the figures: class-consistency accuracy of conditional samples, FID-digits and
IS-digits (features and logits of a digits classifier trained on the real digits, the digits
analogue of the Inception network).
"""

import json
import os
import sys
import time

from absl import app, flags, logging

_WORKDIR = flags.DEFINE_string("workdir", "workdirs/digits", "Output directory.")
_STEPS = flags.DEFINE_integer("steps", None, "Training iterations (default: the config's).")
_CACHE = flags.DEFINE_string("cache_dir", None,
                             "Where the digits classifier is cached (default ~/.cache/tfbiggan).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 2000, "Samples for the metrics.")

TRUNCATIONS = (0.4, 0.7, 1.0)


def main(argv):
    del argv
    # Imports after flag parsing keep `--help` fast.
    from tfbiggan import evaluation, sampling  # pylint: disable=import-outside-toplevel
    from tfbiggan.training import defaults, trainer  # pylint: disable=import-outside-toplevel
    from tfbiggan.training import workdir as wd  # pylint: disable=import-outside-toplevel
    from export import export_hub  # pylint: disable=import-outside-toplevel

    workdir = _WORKDIR.value
    config = defaults.digits_config()
    started = time.time()
    from tfbiggan.training import preemption  # pylint: disable=import-outside-toplevel
    try:
        trainer.train(config, workdir, steps=_STEPS.value)
    except preemption.Preempted as stopped:  # SIGTERM / Ctrl-C: checkpoint written, logged.
        sys.exit(stopped.exit_status)
    train_seconds = time.time() - started
    generator, step, payload = wd.load_ema_generator(workdir)

    module_dir = os.path.join(workdir, "module")
    export_hub.export_generator(
        generator, module_dir, {"step": step, "class_names": [str(d) for d in range(10)],
                                "config": payload["config"]},
        bank_batches=4, bank_batch_size=100)
    sheet_path = os.path.join(workdir, "samples.png")
    images, rows, labels = sampling.sample_sheet(generator, list(range(10)), TRUNCATIONS,
                                                 per_class=6, seed=0)
    sampling.save_grid_png(images, sheet_path, rows, labels)
    results = evaluation.evaluate_digits(generator, num_samples=_NUM_SAMPLES.value,
                                         truncations=TRUNCATIONS, cache_dir=_CACHE.value,
                                         output_dir=workdir)
    results.update({"step": step, "train_seconds_this_run": round(train_seconds, 1)})
    with open(os.path.join(workdir, "evaluation.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print(f"\ntfbiggan digits demo, step {step} ({train_seconds:.0f} s of training this run)")
    for key in ("class_consistency", "fid_digits", "is_digits", "is_digits_real",
                "class_consistency_real"):
        if key in results:
            print(f"  {key:24s} {results[key]:.4f}")
    print(f"  sample sheet:   {sheet_path}")
    print(f"  TF-Hub module:  {module_dir}")
    print(f"  truncation curve: {os.path.join(workdir, 'truncation_curve.png')}")
    logging.info("Demo results: %s", results)
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    sys.exit(run())
