"""Writes a sample sheet (one row per class, columns per truncation) from a run or an export.

    tfbiggan-sample --workdir=DIR [--step=N] --num=8 --classes=1,2,3 --truncation=0.5 \\
        --seed=0 --output=grid.png
    python -m tfbiggan.sample --module=PATH --num=8 --classes=1,2,3 --truncation=0.3,1.0 \\
        --output=grid.png

With --workdir the EMA generator of the checkpoint is used; unless --standing_batches=0,
standing statistics are collected at each truncation first (the paper's procedure), otherwise
the generator's truncation bank is read. With --module an exported module (see
`export.export_hub`) is used; its bank was filled at export time. Without --classes, --num
random classes get one row each. Rows are labelled with the class names of the run's data
(image sub-folders, TFDS metadata) when it has them.
"""

from absl import flags, logging

from tfbiggan import cli, sampling, validation

FLAGS = flags.FLAGS


def _define_flags():
    flags.DEFINE_string("workdir", None, "Training workdir (uses its EMA generator).")
    flags.DEFINE_integer("step", None, "Checkpoint step with --workdir (default: latest).")
    flags.DEFINE_boolean("checkpoint_fallback", True,
                         "With --workdir: if the latest checkpoint cannot be read, use the "
                         "newest readable one (else stop with an error).")
    flags.DEFINE_string("module", None, "Path of an exported module (instead of --workdir).")
    flags.DEFINE_integer("num", 8, "Samples per class and truncation.")
    flags.DEFINE_list("classes", [], "Class ids, one row each (default: --num random ones).")
    flags.DEFINE_list("truncation", ["1.0"], "Truncation value(s); each adds --num columns.")
    flags.DEFINE_enum("mode", "hub", sampling.MODES, "Truncation convention of z.")
    flags.DEFINE_integer("seed", 0, "Seed of latents and random classes.")
    flags.DEFINE_integer("standing_batches", 16,
                         "With --workdir: batches of standing statistics per truncation "
                         "(0 = use the generator's truncation bank).")
    flags.DEFINE_integer("standing_batch_size", 64, "Batch size of that collection.")
    flags.DEFINE_string("output", "samples.png", "PNG file to write.")


def load_source(workdir=None, step=None, module=None, fallback=True):
    """(generator or module, class names or None) from a workdir or an exported module.

    With `workdir`, a damaged latest checkpoint is reported by name and the newest readable
    one used, unless `fallback` is False (then it is an error).

    Example:
      >>> generator, names = load_source(workdir="/runs/biggan128")
    """
    if (workdir is None) == (module is None):
        raise ValueError(f"give exactly one of `workdir` and `module`, got workdir={workdir!r} "
                         f"and module={module!r}.")
    if module is not None:
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        loaded = tf.saved_model.load(module)
        names = [name.decode() for name in loaded.class_names.numpy()]
        return loaded, names or None
    # Importing the models registers their classes for deserialising config.json.
    import tfbiggan.models  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from tfbiggan.training import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
    generator, restored_step, payload = workdir_lib.load_ema_generator(workdir, step, fallback)
    logging.info("Restored the EMA generator of %s at step %d.", workdir, restored_step)
    return generator, workdir_lib.class_names(payload)


def write_samples(source, output, classes, num, truncations, seed=0, mode="hub",
                  class_names=None, standing_batches=0, standing_batch_size=64):
    """Samples a sheet and writes it as a PNG with one labelled row per class.

    Args:
      source: a tfbiggan generator or a loaded export.
      output: PNG path.
      classes: class ids (one row each); empty = `num` random classes.
      num: samples per class and truncation.
      truncations: truncation values.
      seed, mode: latent seed and truncation convention.
      class_names: optional names for the row labels.
      standing_batches, standing_batch_size: for a generator, collect standing statistics at
        each truncation first (0 = use its truncation bank).

    Returns:
      The images [rows·cols, R, R, 3] in [-1, 1].

    Example:
      >>> write_samples(generator, "grid.png", [1, 2], 4, [0.5], standing_batches=8)
    """
    num = validation.positive_int("num", num)
    _, num_classes, _ = sampling.generator_fn(source)
    classes = [int(c) for c in classes]
    if not classes:
        classes = sampling.sample_classes(num, num_classes, (seed, 1)).tolist()
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"class ids must be in [0, {num_classes}), got {bad}.")
    images, rows, labels = sampling.sample_sheet(
        source, classes, truncations, num, seed, mode=mode, standing_batches=standing_batches,
        standing_batch_size=standing_batch_size, class_names=class_names)
    sampling.save_grid_png(images, output, rows, labels)
    return images


@cli.one_line_errors()
def main(argv):
    if len(argv) > 1:
        raise cli.CommandError(f"unexpected arguments: {argv[1:]}")
    try:
        truncations = [float(t) for t in FLAGS.truncation]
        classes = [int(c) for c in FLAGS.classes]
    except ValueError as error:
        raise cli.CommandError(f"--truncation must be numbers and --classes integers: "
                               f"{error}") from error
    if FLAGS.workdir is not None:
        cli.check_workdir(FLAGS.workdir, must_exist=True)
    source, names = load_source(FLAGS.workdir, FLAGS.step, FLAGS.module,
                                FLAGS.checkpoint_fallback)
    standing = FLAGS.standing_batches if FLAGS.workdir else 0
    images = write_samples(source, FLAGS.output, classes, FLAGS.num, truncations, FLAGS.seed,
                           FLAGS.mode, names, standing, FLAGS.standing_batch_size)
    print(f"wrote {len(images)} samples to {FLAGS.output}")
    return 0


def run():
    """Console-script entry point (`tfbiggan-sample`)."""
    _define_flags()
    cli.run(main, __doc__)


if __name__ == "__main__":
    run()
