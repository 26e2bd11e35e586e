"""Evaluates a training run or an exported module and writes the figures as JSON.

    python -m tfbiggan.evaluate --workdir=DIR [--step=N] --metrics=fid,is,kid \\
        --num_samples=10000 --truncation=1.0 --inception=/data/tfgan_inception \\
        --output=results.json
    python -m tfbiggan.evaluate --module=PATH --metrics=fid,is --feature_network=digits \\
        --sweep=0.2,0.4,0.6,0.8,1.0 --output=results.json

Metrics: fid, is, kid, pr, intra_fid, swd, ms_ssim, class_consistency (see
`tfbiggan.evaluation.METRICS`). The feature network defaults to the digits classifier when the
run's data source is "digits" and no `--inception` is given, else to the Inception network
(`--inception` or the environment variable TFBIGGAN_INCEPTION). The real images are the
digits' training split for digits runs, else `--num_reference` examples of the run's data
config (from config.json, or stored in the module), changed with `--data=key=value,...`.
The JSON records the checkpoint step the figures come from; `--sweep` adds the IS/FID
truncation curve (also written beside the JSON as `*_truncation_curve.csv/.png`).
"""

import json
import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS


def _define_flags(flag_values=FLAGS):
    """Defines the command-line flags in `flag_values` (the global absl FLAGS by default)."""
    fv = {"flag_values": flag_values}
    flags.DEFINE_string("workdir", None, "Training workdir (uses its EMA generator).", **fv)
    flags.DEFINE_integer("step", None, "Checkpoint step with --workdir (default: latest).",
                         **fv)
    flags.DEFINE_boolean("checkpoint_fallback", True,
                         "With --workdir: if the latest checkpoint cannot be read, use the "
                         "newest readable one (else stop with an error).", **fv)
    flags.DEFINE_string("module", None, "Path of an exported module (instead of --workdir).",
                        **fv)
    flags.DEFINE_list("metrics", ["fid", "is"], "Metrics to compute.", **fv)
    flags.DEFINE_integer("num_samples", 10000, "Generated samples.", **fv)
    flags.DEFINE_float("truncation", 1.0, "Truncation in (0, 1] (TF-Hub convention).", **fv)
    flags.DEFINE_enum("feature_network", "auto", ["auto", "digits", "inception"],
                      "auto: digits for digits data (unless --inception is given), else "
                      "inception.", **fv)
    flags.DEFINE_string("inception", None,
                        "Local path or TF-Hub handle of the Inception network.", **fv)
    flags.DEFINE_list("data", [], "Overrides of the reference data config, key=value.", **fv)
    flags.DEFINE_integer("num_reference", 10000, "Real examples (non-digits data).", **fv)
    flags.DEFINE_list("sweep", [], "Truncations of an IS/FID sweep (empty: none).", **fv)
    flags.DEFINE_integer("batch_size", 100, "Images per generator / feature-network call.",
                         **fv)
    flags.DEFINE_integer("seed", 0, "Seed of the latents.", **fv)
    flags.DEFINE_string("cache_dir", None,
                        "Cache of reference statistics and the digits classifier "
                        "(default ~/.cache/tfbiggan).", **fv)
    flags.DEFINE_string("output", "results.json", "JSON file to write.", **fv)
    flags.DEFINE_boolean("progress", True, "Show a progress bar of the feature extraction.",
                         **fv)


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_data_overrides(items):
    """["key=value", ...] → dict; values are read as JSON when they parse, else strings.

    Example:
      >>> parse_data_overrides(["split=validation", "num_classes=10"])
      {'split': 'validation', 'num_classes': 10}
    """
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--data entries must be key=value, got {item!r}.")
        overrides[key.strip()] = _parse_value(value.strip())
    return overrides


def load_source(workdir=None, step=None, module=None, fallback=True):
    """(generator or module, step, data config dict or None, checkpoint or module path).

    With `workdir`, a damaged latest checkpoint is reported by name and the newest readable
    one used, unless `fallback` is False (then it is an error).

    Example:
      >>> generator, step, data_config, path = load_source(workdir="/runs/digits")
    """
    if (workdir is None) == (module is None):
        raise ValueError(f"give exactly one of --workdir and --module, got workdir={workdir!r} "
                         f"and module={module!r}.")
    if module is not None:
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        if not os.path.isdir(module):
            raise FileNotFoundError(f"--module {module!r} is not a directory holding an "
                                    "exported module (see export.export_hub).")
        loaded = tf.saved_model.load(module)
        stored = json.loads(loaded.config_json.numpy().decode()).get("config") or {}
        data = (stored.get("data") or {}).get("pipeline")
        return loaded, int(loaded.step.numpy()), data, os.path.abspath(module)
    import tfbiggan.models  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from tfbiggan.training import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
    generator, restored_step, payload, path = workdir_lib.restore_ema_generator(
        workdir, step, fallback)
    data = ((payload.get("config") or {}).get("data") or {}).get("pipeline")
    logging.info("Restored the EMA generator of %s at step %d.", workdir, restored_step)
    return generator, restored_step, data, path


def run_evaluation(source, step, data_config, metric_names, num_samples, truncation,
                   feature_network="auto", inception=None, num_reference=10000, sweep=(),
                   batch_size=100, seed=0, cache_dir=None, source_path=None, progress=False):
    """Evaluates `source` and returns the JSON-ready record (see the module docstring).

    Example:
      >>> record = run_evaluation(generator, 1500, {"source": "digits"}, ["fid", "is"], 2000,
      ...                         1.0)
    """
    # pylint: disable=import-outside-toplevel
    from tfbiggan import evaluation, metrics
    from tfbiggan.metrics import digits as digits_metrics

    names = evaluation.check_metric_names(metric_names)
    data_source = (data_config or {}).get("source")
    if feature_network == "auto":  # An explicit Inception network is a choice too.
        use_digits = data_source == "digits" and inception is None
        feature_network = "digits" if use_digits else "inception"
    _, num_classes, resolution = evaluation.source_info(source)
    cache_dir = cache_dir or digits_metrics.DEFAULT_CACHE_DIR
    if feature_network == "digits":
        feature_fn = metrics.load_digits_classifier(resolution, cache_dir=cache_dir)
        feature_name = None
    else:
        feature_fn = metrics.load_inception(inception)
        feature_name = "inception_v3"
    reference = None
    if data_source == "digits":
        reference = evaluation.digits_reference(resolution)
    elif data_config is not None:
        reference = evaluation.RealImages.from_data_config(data_config, resolution,
                                                           num_reference, seed=seed)
    classes = evaluation.balanced_classes(num_samples, num_classes)
    results = evaluation.evaluate(source, feature_fn, names, num_samples, truncation,
                                  reference=reference, batch_size=batch_size, seed=seed,
                                  classes=classes, cache_dir=cache_dir,
                                  feature_name=feature_name, progress=progress)
    record = {"step": int(step), "source": source_path, "feature_network": feature_network,
              "num_samples": int(num_samples), "truncation": float(truncation),
              "seed": int(seed), "metrics": results}
    if sweep:
        if reference is None:
            raise ValueError("--sweep needs real images: the run has no data config; pass "
                             "--data=source=...,path=... .")
        stats = evaluation.reference_statistics(reference, feature_fn, cache_dir,
                                                feature_name, batch_size)
        record["truncation_curve"] = evaluation.truncation_sweep(
            source, feature_fn, sweep, num_samples, stats, batch_size, seed, classes)
    return record


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        sweep = [float(t) for t in FLAGS.sweep]
    except ValueError as error:
        raise app.UsageError(f"--sweep must be numbers, got {FLAGS.sweep}: {error}") from error
    try:
        from tfbiggan import evaluation  # pylint: disable=import-outside-toplevel
        evaluation.check_metric_names(FLAGS.metrics)
        source, step, data_config, path = load_source(FLAGS.workdir, FLAGS.step, FLAGS.module,
                                                      FLAGS.checkpoint_fallback)
        overrides = parse_data_overrides(FLAGS.data)
        if overrides:
            data_config = {**(data_config or {}), **overrides}
        record = run_evaluation(source, step, data_config, FLAGS.metrics, FLAGS.num_samples,
                                FLAGS.truncation, FLAGS.feature_network, FLAGS.inception,
                                FLAGS.num_reference, sweep, FLAGS.batch_size, FLAGS.seed,
                                FLAGS.cache_dir, path, progress=FLAGS.progress)
    except (ValueError, OSError) as error:  # OSError covers FileNotFoundError.
        logging.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    output = os.path.abspath(FLAGS.output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    if "truncation_curve" in record:
        stem = os.path.splitext(output)[0]
        rows = record["truncation_curve"]
        evaluation.write_curve_csv(rows, f"{stem}_truncation_curve.csv")
        evaluation.plot_truncation_curve(rows, f"{stem}_truncation_curve.png")
    tmp = f"{output}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(tmp, output)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in record["metrics"].items())
    print(f"step {record['step']}: {summary} -> {output}")
    return 0


def run():
    """Console-script entry point (`tfbiggan-evaluate`)."""
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
