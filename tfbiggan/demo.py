"""The main job: train a class-conditional BigGAN, then sample, export and evaluate it.

python -m tfbiggan.demo --workdir=workdirs/fashion_mnist                  # Fashion-MNIST
python -m tfbiggan.demo --dataset=digits --workdir=workdirs/digits        # the fast one

Trains configs/fashion_mnist.py (or configs/digits.py), resuming if the workdir holds
checkpoints, then writes into the workdir:
  samples.png           one row per class, columns grouped by truncation (labelled)
  interpolation.png     class-to-class interpolations at a fixed z
  module/               the exported TF-Hub module (grey for Fashion-MNIST)
  truncation_curve.csv / .png   fidelity against variety over truncations, the real point on it
  evaluation.json       every figure with its real-vs-real value
and prints the figures: class consistency, FID, IS, precision/recall, density/coverage and
within-class variety of the EMA generator in the data set's classifier feature space, each
beside the same figure between two disjoint real splits.

Fashion-MNIST is read from Debian's `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist),
from `--data_dir` (or $TFBIGGAN_FASHION_MNIST) holding the four IDX files, or from TFDS's
`fashion_mnist` (prepared, or downloaded with `--download`).
"""

import json
import os
import sys
import time

from absl import flags, logging

from tfbiggan import cli

_DATASET = flags.DEFINE_enum("dataset", "fashion_mnist", ["fashion_mnist", "digits"],
                             "The data set: Fashion-MNIST (the main job) or the bundled digits "
                             "(fast).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default "
                               "workdirs/<dataset>).")
_STEPS = flags.DEFINE_integer("steps", None, "Training iterations (default: the config's).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Directory of the Fashion-MNIST IDX files "
                                "(default: $TFBIGGAN_FASHION_MNIST, then Debian's).")
_DOWNLOAD = flags.DEFINE_bool("download", False, "Let TFDS download Fashion-MNIST when no "
                              "files are found.")
_CACHE = flags.DEFINE_string("cache_dir", None, "Cache of the classifiers and real statistics "
                             "(default ~/.cache/tfbiggan).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "Samples per evaluation (default: "
                                    "the real ceiling split's size, 10,000 / 898).")

TRUNCATIONS = (0.3, 0.4, 0.6, 0.8, 1.0)
SHEET_TRUNCATIONS = (1.0, 0.6, 0.3)
SHEET_PER_CLASS = 6


def config_for(dataset, data_dir=None, download=False):
    """The experiment config of the demo's data set."""
    from tfbiggan.training import defaults  # pylint: disable=import-outside-toplevel
    if dataset == "digits":
        return defaults.digits_config()
    config = defaults.fashion_mnist_config()
    if data_dir:
        config.data.pipeline.path = data_dir
    config.data.pipeline.download = download
    return config


def check_data(config):
    """Fails before training when the data is missing (one clear line saying how to get it)."""
    data = config.data.pipeline
    if data.source == "idx" and not data.download:
        from tfbiggan.data import sources  # pylint: disable=import-outside-toplevel
        for split in ("train", "test"):  # The test split is the evaluation's ceiling.
            sources.idx_files(data.path, data.name, split, data.data_dir)


def write_sheets(generator, workdir, class_names):
    """samples.png (rows: classes; columns: truncations) and interpolation.png."""
    # pylint: disable=import-outside-toplevel
    import numpy as np
    from tfbiggan import sampling
    num_classes = generator.num_classes
    images, rows, _ = sampling.sample_sheet(generator, list(range(num_classes)),
                                            SHEET_TRUNCATIONS, per_class=SHEET_PER_CLASS,
                                            seed=0)
    sheet = os.path.join(workdir, "samples.png")
    sampling.save_grid_png(images, sheet, rows, class_names,
                           column_labels=[(f"truncation {t:g}", SHEET_PER_CLASS)
                                          for t in SHEET_TRUNCATIONS])
    pairs = [(c, (c + 1) % num_classes) for c in range(num_classes)]
    z, y = sampling.class_interpolation_sheet(generator.dim_z, num_classes, pairs, 8, 0.6,
                                              seed=1, mode="hub")
    images = np.asarray(generator(z, y, training=False, truncation=0.6))
    interpolation = os.path.join(workdir, "interpolation.png")
    sampling.save_grid_png(images, interpolation, len(pairs),
                           [f"{class_names[a]} → {class_names[b]}" for a, b in pairs])
    return sheet, interpolation


@cli.one_line_errors()
def main(argv):
    del argv
    # Checked before training: the truncation-curve plot at the end needs matplotlib.
    cli.require_modules(["matplotlib"], "python -m tfbiggan.demo (its truncation-curve plot)",
                        "demo")
    dataset = _DATASET.value
    config = config_for(dataset, _DATA_DIR.value, _DOWNLOAD.value)
    check_data(config)
    # Imports after the checks keep `--help` and a failed check fast.
    # pylint: disable=import-outside-toplevel
    from tfbiggan import evaluation, files, standing_stats
    from tfbiggan.training import launch
    from tfbiggan.training import workdir as wd
    from tfbiggan.export import export_hub

    workdir = _WORKDIR.value or os.path.join("workdirs", dataset)
    started = time.time()
    from tfbiggan.training import preemption  # pylint: disable=import-outside-toplevel
    try:
        launch.train(config, workdir, steps=_STEPS.value)
    except preemption.Preempted as stopped:  # SIGTERM / Ctrl-C: checkpoint written, logged.
        sys.exit(stopped.exit_status)
    train_seconds = time.time() - started
    generator, step, payload = wd.load_ema_generator(workdir)
    standing_stats.collect_truncation_bank(generator, num_batches=4, batch_size=100)

    data = payload["config"]["data"]["pipeline"]
    suite = evaluation.suite_for(data, generator.resolution, _NUM_SAMPLES.value,
                                 cache_dir=_CACHE.value)
    class_names = list(suite.class_names or [str(c) for c in range(generator.num_classes)])
    module_dir = export_hub.export_generator(
        generator, os.path.join(workdir, "module"),
        {"step": step, "class_names": class_names, "config": payload["config"]})
    sheet, interpolation = write_sheets(generator, workdir, class_names)
    results = evaluation.evaluate_suite(generator, suite, _NUM_SAMPLES.value,
                                        truncations=TRUNCATIONS)
    curve_csv, curve_png = evaluation.suites.write_outputs(
        results, workdir, f"{dataset}: EMA generator at step {step}")
    results.update({"step": step, "dataset": dataset,
                    "train_seconds_this_run": round(train_seconds, 1)})
    with files.atomic_write(os.path.join(workdir, "evaluation.json")) as f:
        json.dump(results, f, indent=1)

    figures = {k: v for k, v in results.items()
               if isinstance(v, float) and k not in ("truncation", "classifier_accuracy",
                                                     "train_seconds_this_run")}
    print(f"\ntfbiggan demo ({dataset}), EMA generator at step {step} "
          f"({train_seconds:.0f} s of training this run), {results['num_samples']} samples "
          f"at truncation 1.0, in the {suite.name} classifier's features "
          f"(held-out accuracy {results.get('classifier_accuracy', float('nan')):.4f}):")
    print("\n".join(evaluation.format_table(figures)))
    print("  truncation  precision  recall  coverage  variety  class consistency")
    for row in results["truncation_curve"]:
        label = row["truncation"] if isinstance(row["truncation"], str) \
            else f"{row['truncation']:g}"
        print(f"  {label:>10s}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
              f"{row['coverage']:8.3f}  {row['variety']:7.3f}  "
              f"{row.get('class_consistency', float('nan')):17.3f}")
    for what, path in (("sample sheet", sheet), ("class interpolation", interpolation),
                       ("truncation curve", curve_png), ("curve data", curve_csv),
                       ("TF-Hub module", module_dir),
                       ("figures", os.path.join(workdir, "evaluation.json"))):
        print(f"  {what + ':':22s} {path}")
    logging.info("Demo results: %s", results)
    return 0


def run():
    cli.run(main, __doc__)


if __name__ == "__main__":
    sys.exit(run())
