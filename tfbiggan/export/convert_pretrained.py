"""Converts a published BigGAN into a tfbiggan workdir, a `.keras` generator and a TF-Hub module.

    python -m export.convert_pretrained --source=PATH --output=DIR [--verify]   (a checkout)
    python -m tfbiggan.export.convert_pretrained --source=PATH --output=DIR [--verify]
    tfbiggan-convert --source=PATH --output=DIR [--verify]

PATH: a DeepMind TF1 Hub module directory or `.tar.gz` (biggan-{128,256,512}/2,
biggan-deep-{128,256,512}/1), a pytorch-pretrained-BigGAN directory (pytorch_model.bin +
config.json) or BigGAN-PyTorch weights (a directory with G_ema.pth [, D.pth, state_dict.pth],
or one state-dict file). DIR receives:

    config.json, checkpoints/   a workdir (training.workdir.load_ema_generator, export_hub,
                                tfbiggan.sample, the trainer's model.init_from)
    generator.keras             the generator (discriminator.keras when the source has a D)
    hub/                        a SavedModel with the export contract of export.export_hub:
                                hub.load(DIR + "/hub")(z, y, truncation)
    conversion.json             source, format, architecture, notes, verification errors

DIR is written in a staging directory beside it and renamed into place at the end, so an
interrupted conversion leaves no partial output. `--verify` compares the converted generator
with the source module through `hub.load` where the source can run here (TF1 modules), and
always with the exported module; it prints the largest absolute differences and exits with
status 1 when one that should match exceeds `--verify_tolerance`.
"""

import json
import os
import shutil
import tempfile

from absl import flags, logging

from tfbiggan.export import export_hub
from tfbiggan import cli, convert
from tfbiggan.convert import hub_module, outputs, verify as verify_lib
from tfbiggan.models.biggan_deep import BigGANDeepGenerator

CONVERSION_FILE = "conversion.json"
HUB_DIR = "hub"


class VerificationError(RuntimeError):
    """A converted generator differs from what it should reproduce by more than the tolerance."""


def _verification(converted, module_dir, hub_dir, truncations, tolerance):
    """Rows {"compared", "truncation", "max_abs_error", "statistics", "checked"}."""
    rows = []
    deep = isinstance(converted.generator, BigGANDeepGenerator)
    if module_dir is not None:
        for row in verify_lib.compare(converted.generator, module_dir, truncations,
                                      use_bank=deep):
            # A BigGAN module computes its own statistics per truncation (not published):
            # reported, not checked.
            rows.append(dict(row, compared="source module", checked=deep))
    for row in verify_lib.compare(converted.generator, hub_dir, truncations):
        rows.append(dict(row, compared="exported module", checked=True))
    failed = [row for row in rows if row["checked"] and row["max_abs_error"] > tolerance]
    return rows, failed


def convert_pretrained(source, output, config=None, verify=False, bank_batches=16,
                       bank_batch_size=64, bank_seed=0, overwrite=False,
                       truncations=(0.4, 1.0), tolerance=1e-4):
    """Converts `source` and writes the workdir, `.keras` file(s) and hub module to `output`.

    Args:
      source: the published model (see the module docstring).
      output: the output directory (must not exist unless `overwrite`).
      config: settings for PyTorch sources (see `tfbiggan.convert.load`).
      verify: compare with the source module (when it can run here) and the export.
      bank_batches, bank_batch_size, bank_seed: the standing-statistics truncation bank of
        BigGAN sources (`tfbiggan.convert.load`).
      overwrite: replace an existing `output` (only once the new one is complete).
      truncations: the truncations `verify` compares at.
      tolerance: the largest absolute difference `verify` accepts.

    Returns:
      The report written to conversion.json (a dict).

    Raises:
      VerificationError: `verify` found a difference above `tolerance` (nothing is written).

    Example:
      >>> convert_pretrained("biggan-deep-128_1.tar.gz", "/tmp/deep128", verify=True)
    """
    source, output = os.fspath(source), os.path.abspath(output)
    if os.path.exists(output) and not overwrite:
        raise ValueError(f"{output} exists; choose a new --output or pass --overwrite.")
    source_format = convert.detect_format(source)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.tmp-", dir=parent)
    try:
        if source_format == convert.TF_HUB:
            with hub_module.module_directory(source) as module_dir:
                report = _convert_into(staging, source, module_dir, config, verify, truncations,
                                       tolerance, (bank_batches, bank_batch_size, bank_seed))
        else:
            report = _convert_into(staging, source, None, config, verify, truncations,
                                   tolerance, (bank_batches, bank_batch_size, bank_seed))
        _replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logging.info("Wrote the conversion of %s to %s.", source, output)
    return report


def _convert_into(staging, source, module_dir, config, verify, truncations, tolerance, bank):
    converted = convert.load(module_dir or source, config=config, bank_batches=bank[0],
                             bank_batch_size=bank[1], bank_seed=bank[2])
    converted.source = source
    outputs.write_workdir(converted, staging)
    outputs.save_keras(converted.generator, os.path.join(staging, "generator.keras"))
    if converted.discriminator is not None:
        outputs.save_keras(converted.discriminator, os.path.join(staging, "discriminator.keras"))
    hub_dir = os.path.join(staging, HUB_DIR)
    export_hub.export_generator(converted.generator, hub_dir,
                                {"step": 0, "config": {"converted_from": converted.metadata()}})
    report = dict(converted.metadata(), unused=converted.unused)
    if verify:
        rows, failed = _verification(converted, module_dir, hub_dir, truncations, tolerance)
        report["verification"] = rows
        for row in rows:
            print(f"verify: {row['compared']} vs converted generator, truncation "
                  f"{row['truncation']:g} ({row['statistics']} statistics): max |difference| "
                  f"{row['max_abs_error']:.3g}{'' if row['checked'] else ' (not checked)'}")
        if module_dir is None:
            print(f"verify: the source ({converted.source_format}) cannot run here (PyTorch "
                  f"without torch); only the export was compared.")
        if failed:
            raise VerificationError(
                f"the converted generator differs by more than {tolerance:g}: "
                + "; ".join(f"{row['compared']} at truncation {row['truncation']:g}: "
                            f"{row['max_abs_error']:.3g}" for row in failed)
                + ". Nothing was written.")
    with open(os.path.join(staging, CONVERSION_FILE), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True, default=str)
    return report


def _replace(staging, output):
    backup = None
    if os.path.exists(output):
        backup = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.old-",
                                  dir=os.path.dirname(output))
        os.rmdir(backup)
        os.rename(output, backup)
    os.rename(staging, output)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


FLAGS = flags.FLAGS


def _define_flags():
    flags.DEFINE_string("source", None, "The published model: TF1 Hub module directory or "
                        ".tar.gz, pytorch-pretrained-BigGAN directory, BigGAN-PyTorch weights.")
    flags.DEFINE_string("output", None, "Directory to write (workdir, .keras, hub/).")
    flags.DEFINE_string("config", None, "PyTorch sources: config.json / training settings "
                        "(JSON or state_dict.pth); default: found beside the weights.")
    flags.DEFINE_boolean("verify", False, "Compare with the source (where it runs here) and "
                         "the export; print the largest differences.")
    flags.DEFINE_float("verify_tolerance", 1e-4, "Largest accepted difference for --verify.")
    flags.DEFINE_integer("bank_batches", 16, "BigGAN sources: batches per truncation-bank row "
                         "of standing statistics (0 leaves the bank empty).")
    flags.DEFINE_integer("bank_batch_size", 64, "Batch size of that collection.")
    flags.DEFINE_integer("bank_seed", 0, "Seed of that collection.")
    flags.DEFINE_boolean("overwrite", False, "Replace --output if it exists.")
    flags.mark_flags_as_required(["source", "output"])


@cli.one_line_errors()
def main(argv):
    """Runs the command on the parsed FLAGS; errors are reported as one line (`tfbiggan.cli`)."""
    if len(argv) > 1:
        raise cli.CommandError(f"unexpected arguments: {argv[1:]}")
    try:
        report = convert_pretrained(
            FLAGS.source, FLAGS.output, config=FLAGS.config, verify=FLAGS.verify,
            bank_batches=FLAGS.bank_batches, bank_batch_size=FLAGS.bank_batch_size,
            bank_seed=FLAGS.bank_seed, overwrite=FLAGS.overwrite,
            tolerance=FLAGS.verify_tolerance)
    except VerificationError as error:
        raise cli.CommandError(str(error)) from error
    for note in report["notes"]:
        print(f"{report['source_format']}: {note}")
    print(f"wrote {os.path.abspath(FLAGS.output)}")


def run():
    """Console-script entry point (`tfbiggan-convert`)."""
    _define_flags()
    cli.run(main, __doc__)


if __name__ == "__main__":
    run()
