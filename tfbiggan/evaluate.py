"""Evaluates a training run or an exported module and writes the figures as JSON.

    tfbiggan-evaluate --workdir=DIR [--step=N] --metrics=fid,is,kid \\
        --num_samples=10000 --truncation=1.0 --inception=/data/tfgan_inception \\
        --output=results.json
    python -m tfbiggan.evaluate --module=PATH --metrics=fid,is --feature_network=digits \\
        --sweep=0.2,0.4,0.6,0.8,1.0 --output=results.json

Every evaluation reports FID, IS, precision/recall, density/coverage and within-class variety
(and class consistency with a data set's classifier), each beside its real-vs-real value: the
same figure between the reference and a second, disjoint real split of the samples' size
(`tfbiggan.evaluation.suites`). `--metrics` adds more: kid, intra_fid, swd, ms_ssim (see
`tfbiggan.evaluation.METRICS`). The feature network defaults to the data set's classifier
for the digits and Fashion-MNIST (unless `--inception` is given), else to the Inception
network (`--inception` or the environment variable TFBIGGAN_INCEPTION); the real images come
from the run's data config (from config.json, or stored in the module), changed with
`--data=key=value,...`. The JSON records the checkpoint step the figures come from and the
real values under "real"; `--sweep` adds the truncation curve (also written beside the JSON
as `*_truncation_curve.csv/.png`, the real data's point on it).
"""

import json
import os

from absl import flags, logging

from tfbiggan import cli, files

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
    flags.DEFINE_list("metrics", [], "Metrics beside the standard ones (fid, is, pr, dc, "
                      "variety; class_consistency with a classifier): kid, intra_fid, swd, "
                      "ms_ssim.", **fv)
    flags.DEFINE_integer("num_samples", 10000, "Generated samples.", **fv)
    flags.DEFINE_float("truncation", 1.0, "Truncation in (0, 1] (TF-Hub convention).", **fv)
    flags.DEFINE_enum("feature_network", "auto",
                      ["auto", "digits", "fashion_mnist", "inception"],
                      "auto: the data set's classifier for the digits and Fashion-MNIST "
                      "(unless --inception is given), else inception.", **fv)
    flags.DEFINE_string("inception", None,
                        "Local path or TF-Hub handle of the Inception network.", **fv)
    flags.DEFINE_list("data", [], "Overrides of the reference data config, key=value.", **fv)
    flags.DEFINE_integer("num_reference", 10000, "Real examples of the reference "
                         "(Fashion-MNIST and Inception evaluations).", **fv)
    flags.DEFINE_list("sweep", [], "Truncations of an IS/FID sweep (empty: none).", **fv)
    flags.DEFINE_integer("batch_size", 100, "Images per generator / feature-network call.",
                         **fv)
    flags.DEFINE_integer("seed", 0, "Seed of the latents.", **fv)
    flags.DEFINE_string("cache_dir", None,
                        "Cache of reference statistics and the digits classifier "
                        "(default ~/.cache/tfbiggan).", **fv)
    flags.DEFINE_string("output", None, "JSON file to write (default: results_step<N>.json "
                        "in --workdir; results.json in the current directory for --module).",
                        **fv)
    cli.define_progress_flags(flag_values)


def default_output(workdir, step):
    """Where the JSON goes without --output: into the workdir, one file per step (so evaluating
    another step keeps the first's figures); for a module, the current directory."""
    if workdir:
        return os.path.join(workdir, f"results_step{step}.json")
    return "results.json"


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
      >>> record = run_evaluation(generator, 1500, {"source": "digits"}, [], 800, 1.0)
    """
    from tfbiggan import evaluation  # pylint: disable=import-outside-toplevel

    extra = evaluation.check_metric_names(metric_names) if metric_names else []
    _, _, resolution = evaluation.source_info(source)
    suite = evaluation.suite_for(data_config, resolution, num_samples, feature_network,
                                 inception, num_reference, seed, cache_dir)
    names = tuple(dict.fromkeys(tuple(suite.metrics) + tuple(extra)))
    results = evaluation.evaluate_suite(source, suite, num_samples, truncation, sweep,
                                        batch_size, seed, progress=progress, metrics=names)
    curve = results.pop("truncation_curve", None)
    figures = {k: v for k, v in results.items() if isinstance(v, float)}
    record = {"step": int(step), "source": source_path, "feature_network": suite.name,
              "num_samples": int(results["num_samples"]), "truncation": float(truncation),
              "seed": int(seed),
              "metrics": {k: v for k, v in figures.items() if not k.endswith("_real")
                          and k not in ("truncation", "classifier_accuracy")},
              "real": {k[:-len("_real")]: v for k, v in figures.items()
                       if k.endswith("_real")}}
    if "classifier_accuracy" in results:
        record["classifier_accuracy"] = results["classifier_accuracy"]
    if suite.class_names:
        record["class_names"] = list(suite.class_names)
    if curve is not None:
        record["truncation_curve"] = curve
    return record


@cli.one_line_errors("--data={field}={value}")
def main(argv):
    """Runs the command on the parsed FLAGS; errors are reported as one line (`tfbiggan.cli`)."""
    if len(argv) > 1:
        raise cli.CommandError(f"unexpected arguments: {argv[1:]}")
    try:
        sweep = [float(t) for t in FLAGS.sweep]
    except ValueError as error:
        raise cli.CommandError(f"--sweep must be numbers, got {FLAGS.sweep}: {error}") from error
    if sweep:
        cli.require_modules(["matplotlib"], "--sweep (its truncation-curve plot)", "demo")
    if FLAGS.workdir is not None:
        cli.check_workdir(FLAGS.workdir, must_exist=True)
    from tfbiggan import evaluation  # pylint: disable=import-outside-toplevel
    if FLAGS.metrics:
        evaluation.check_metric_names(FLAGS.metrics)
    source, step, data_config, path = load_source(FLAGS.workdir, FLAGS.step, FLAGS.module,
                                                  FLAGS.checkpoint_fallback)
    overrides = parse_data_overrides(FLAGS.data)
    if overrides:
        data_config = {**(data_config or {}), **overrides}
    record = run_evaluation(source, step, data_config, FLAGS.metrics, FLAGS.num_samples,
                            FLAGS.truncation, FLAGS.feature_network, FLAGS.inception,
                            FLAGS.num_reference, sweep, FLAGS.batch_size, FLAGS.seed,
                            FLAGS.cache_dir, path, progress=cli.progress_enabled(FLAGS))
    output = os.path.abspath(FLAGS.output or default_output(FLAGS.workdir, record["step"]))
    if "truncation_curve" in record:
        stem = os.path.splitext(output)[0]
        rows = record["truncation_curve"]
        evaluation.write_curve_csv(rows, f"{stem}_truncation_curve.csv")
        evaluation.plot_truncation_curve(rows, f"{stem}_truncation_curve.png")
    with files.atomic_write(output) as f:
        json.dump(record, f, indent=1, sort_keys=True)
    figures = dict(record["metrics"])
    figures.update({f"{k}_real": v for k, v in record["real"].items()})
    print(f"step {record['step']}, {record['num_samples']} samples at truncation "
          f"{record['truncation']:g} ({record['feature_network']} features) -> {output}")
    print("\n".join(evaluation.format_table(figures)))
    return 0


def run():
    """Console-script entry point (`tfbiggan-evaluate`)."""
    _define_flags()
    cli.run(main, __doc__)


if __name__ == "__main__":
    run()
