"""Exports a generator as a SavedModel with the interface of the DeepMind BigGAN TF-Hub modules.

    python -m export.export_hub --workdir=DIR --output=DIR [--step=N] [--bank_batches=16]

(from a checkout; an installed package runs the same command as `python -m
tfbiggan.export.export_hub`, or `tfbiggan-export`).

The module (`hub.load(path)` or `tf.saved_model.load(path)`) offers:

    images = module(z, y, truncation)              # z [B, dim_z], y [B, K] float, t scalar
    images = module.signatures["default"](z=z, y=y, truncation=t)["default"]
    images = module.sample(num, y, truncation, seed)   # y: ids [num] / [1] or [num, K] / [1, K]
    module.dim_z, module.num_classes, module.resolution, module.step,
    module.num_truncation_stats, module.class_names, module.config_json,
    module.batch_norm_statistics                                            (tf.Variables)

Images are float32 [B, R, R, C] in [-1, 1] (C = 3, or 1 for grey data). The truncation (in
(0, 1]) selects the batch-norm statistics from the bank collected before export (see
`tfbiggan.standing_stats`); `batch_norm_statistics` says what the module holds:
"truncation_bank", "standing" (one set, the truncation then acting on z only) or "none" (a
generator without batch norm, e.g. ProGAN's: the truncation acts on z, as in TF-Hub's
convention z = t · truncated_normal);
`sample` draws z = truncation · truncated_normal(±2) with a stateless RNG seeded by `seed`.
`keras.layers.TFSMLayer(path, call_endpoint="default")` accepts a dict
{"z", "y", "truncation"} and returns {"default": images}.
"""

import json
import os

import tfbiggan  # First: a command's quiet start-up happens before TensorFlow's import.
import numpy as np  # pylint: disable=wrong-import-order
import tensorflow as tf  # pylint: disable=wrong-import-order
from absl import flags, logging  # pylint: disable=wrong-import-order

from tfbiggan import cli, files, standing_stats, validation

OUTPUT_KEY = "default"


def _metadata_value(metadata, key, default=None):
    value = metadata.get(key)
    if value is None:
        value = (metadata.get("config") or {}).get(key)
    return default if value is None else value


class BigGANHubModule(tf.Module):
    """The exported object: a generator, its metadata and the TF-Hub call interface.

    Args:
      generator: a tfbiggan generator (BigGAN or BigGAN-deep) with `dim_z`, `num_classes`,
        `resolution`.
      metadata: dict with optional "step", "class_names" and "config" (any JSON data;
        "class_names" may also sit inside "config").
      jit_compile: compile the generator call with XLA.

    Example:
      >>> module = build_module(generator, {"step": 1000})   # adds the typed __call__
      >>> images = module(z, y_one_hot, tf.constant(0.5))
    """

    def __init__(self, generator, metadata=None, jit_compile=False):
        super().__init__(name="biggan_hub_module")
        metadata = dict(metadata or {})
        self.generator = generator
        dim_z, num_classes = int(generator.dim_z), int(generator.num_classes)
        class_names = [str(name) for name in _metadata_value(metadata, "class_names", [])]
        if class_names and len(class_names) != num_classes:
            raise ValueError(f"`class_names` must hold one name per class ({num_classes}), "
                             f"got {len(class_names)}.")
        config = {"generator": {"class_name": type(generator).__name__,
                                "config": generator.get_config()},
                  "config": metadata.get("config") or {},
                  "tfbiggan_version": tfbiggan.__version__}
        constant = lambda value, dtype=None: tf.Variable(  # noqa: E731
            value, dtype=dtype, trainable=False)
        self.dim_z = constant(dim_z, tf.int64)
        self.num_classes = constant(num_classes, tf.int64)
        self.resolution = constant(int(generator.resolution), tf.int64)
        self.num_truncation_stats = constant(
            int(getattr(generator, "num_truncation_stats", 0)), tf.int64)
        self.batch_norm_statistics = constant(batch_norm_statistics(generator))
        self.step = constant(int(_metadata_value(metadata, "step", -1)), tf.int64)
        self.class_names = tf.Variable(tf.constant(class_names, tf.string, shape=[len(
            class_names)]), trainable=False, shape=tf.TensorShape([None]))
        self.config_json = constant(json.dumps(config, sort_keys=True, default=str))
        self._jit_compile = jit_compile
        self._generate = tf.function(self._generate_images, jit_compile=jit_compile)

        self.sample = tf.function(self._sample)
        t_spec = _truncation_spec()
        num_spec = tf.TensorSpec([], tf.int32, name="num")
        seed_spec = tf.TensorSpec([], tf.int32, name="seed")
        for labels in (tf.TensorSpec([None], tf.int32, name="y"),
                       _class_spec(num_classes)):
            self.sample.get_concrete_function(num_spec, labels, t_spec, seed_spec)

    def _generate_images(self, z, y, truncation):
        return self.generator(z, y, training=False, truncation=truncation)

    def _check(self, z, y, truncation):
        # Signature functions do not bind their inputs to the TensorSpecs, so the shapes are
        # enforced here; every later op consumes these checked tensors.
        dim_z, num_classes = self.generator.dim_z, self.generator.num_classes
        z = tf.ensure_shape(z, [None, dim_z], name="z")
        y = tf.ensure_shape(y, [None, num_classes], name="y")
        truncation = tf.ensure_shape(truncation, [], name="truncation")
        checks = [
            tf.debugging.Assert(tf.equal(tf.shape(z)[0], tf.shape(y)[0]), [
                "z and y must have the same batch size; got shapes", tf.shape(z),
                tf.shape(y)]),
            tf.debugging.Assert(tf.logical_and(truncation > 0.0, truncation <= 1.0),
                                ["truncation must be in (0, 1]; got", truncation]),
        ]
        with tf.control_dependencies(checks):
            z = tf.debugging.assert_all_finite(z, "z must be finite (no NaN or Inf)")
            y = tf.debugging.assert_all_finite(y, "y must be finite (no NaN or Inf)")
            truncation = tf.identity(truncation)
        return z, y, truncation

    def _call(self, z, y, truncation):
        z, y, truncation = self._check(z, y, truncation)
        # Finite but huge z or y (e.g. 1e30) overflow inside the generator: fail rather than
        # return NaN images.
        return tf.debugging.assert_all_finite(
            self._generate(z, y, truncation),
            "the generated images are not finite: z or y is too large in magnitude")

    def _signature(self, z, y, truncation):
        return {OUTPUT_KEY: self._call(z, y, truncation)}

    def _sample(self, num, y, truncation, seed):
        num_classes = self.generator.num_classes
        if y.dtype.is_integer:
            checks = [
                tf.debugging.assert_non_negative(
                    y, message=f"class ids must be in [0, {num_classes}); got"),
                tf.debugging.assert_less(
                    y, tf.cast(num_classes, y.dtype),
                    message=f"class ids must be in [0, {num_classes}); got")]
            with tf.control_dependencies(checks):
                y = tf.one_hot(y, num_classes, dtype=tf.float32)
        count = tf.shape(y)[0]
        checks = [
            tf.debugging.Assert(num > 0, ["num must be positive; got", num]),
            tf.debugging.Assert(tf.logical_or(tf.equal(count, 1), tf.equal(count, num)), [
                "y must hold one class (broadcast to num) or num classes; got", count,
                "for num", num])]
        with tf.control_dependencies(checks):
            y = tf.cond(tf.equal(count, 1), lambda: tf.tile(y, [num, 1]), lambda: y)
        seed_pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        z = truncation * tf.random.stateless_truncated_normal(
            [num, self.generator.dim_z], seed=seed_pair)
        return self._call(z, y, truncation)


def batch_norm_statistics(generator):
    """"truncation_bank", "standing" or "none": the batch-norm statistics `generator`
    samples with."""
    from tfbiggan.layers import normalization  # pylint: disable=import-outside-toplevel
    if not normalization.batch_norm_layers(generator):
        return "none"
    return "truncation_bank" if normalization.truncation_bank_is_filled(generator) \
        else "standing"


def _latent_spec(dim_z):
    return tf.TensorSpec([None, dim_z], tf.float32, name="z")


def _class_spec(num_classes):
    return tf.TensorSpec([None, num_classes], tf.float32, name="y")


def _truncation_spec():
    return tf.TensorSpec([], tf.float32, name="truncation")


def build_module(generator, metadata=None, jit_compile=False):
    """A `BigGANHubModule` for `generator`, whose `__call__` carries the input signature
    z [None, dim_z], y [None, num_classes], truncation [] (all float32).

    Example:
      >>> module = build_module(generator, {"step": 1000})
      >>> images = module(z, y_one_hot, 0.5)
    """
    specs = [_latent_spec(int(generator.dim_z)), _class_spec(int(generator.num_classes)),
             _truncation_spec()]

    class Module(BigGANHubModule):  # pylint: disable=missing-class-docstring
        __doc__ = BigGANHubModule.__doc__

        @tf.function(input_signature=specs)
        def __call__(self, z, y, truncation):
            return self._call(z, y, truncation)

        @tf.function(input_signature=[dict(zip(("z", "y", "truncation"), specs))])
        def default(self, inputs):
            """The call as one dict argument, for `keras.layers.TFSMLayer(path, "default")`."""
            return self._signature(inputs["z"], inputs["y"], inputs["truncation"])

        @tf.function(input_signature=specs)
        def serving_signature(self, z, y, truncation):
            return self._signature(z, y, truncation)

    return Module(generator, metadata, jit_compile)


def _atomic_save(module, output_dir):
    output_dir = os.path.abspath(output_dir)
    with files.atomic_directory(output_dir) as staging:
        tf.saved_model.save(module, staging,
                            signatures={OUTPUT_KEY: module.serving_signature})
    return output_dir


def export_generator(generator, output_dir, metadata=None, bank_batches=0,
                     bank_batch_size=64, bank_seed=0, jit_compile=False):
    """Saves `generator` as a TF-Hub-compatible SavedModel at `output_dir` (atomically).

    Args:
      generator: a tfbiggan generator (built; the EMA generator of a run).
      output_dir: destination directory (replaced when it exists, only once the new module
        was written completely).
      metadata: dict with optional "step", "class_names" and "config".
      bank_batches: if > 0, first fill the truncation bank with standing statistics over
        this many batches per row (`tfbiggan.standing_stats.collect_truncation_bank`);
        0 keeps the generator's current statistics.
      bank_batch_size: batch size of that collection.
      bank_seed: its seed.
      jit_compile: compile the generator call with XLA inside the module. Off by default:
        on CPU, TensorFlow's graph kernels run the generator faster than XLA at realistic
        sizes (see benchmarks/sample.py); XLA only wins for tiny models.

    Returns:
      The absolute path of the module.

    Example:
      >>> export_generator(generator, "/tmp/biggan_128", {"step": 100000}, bank_batches=16)
      >>> module = hub.load("/tmp/biggan_128")
      >>> images = module(z, y, 0.5)
    """
    bank_batches = validation.positive_int("bank_batches", bank_batches, allow_zero=True)
    if batch_norm_statistics(generator) == "none":
        logging.info("%s has no batch norm: no statistics bank is collected; the module's "
                     "truncation acts on z.", generator.name)
    elif bank_batches:
        if getattr(generator, "num_truncation_stats", 0):
            standing_stats.collect_truncation_bank(generator, bank_batches, bank_batch_size,
                                                   seed=bank_seed)
        else:
            logging.warning("%s has no truncation bank (num_truncation_stats=0): collecting "
                            "standing statistics at truncation 1 instead; the module's "
                            "truncation then only scales z.", generator.name)
            standing_stats.collect_standing_statistics(generator, bank_batches,
                                                       bank_batch_size, seed=bank_seed)
    elif getattr(generator, "num_truncation_stats", 0) and _bank_is_empty(generator):
        logging.warning("The truncation bank of %s was never filled: the module will "
                        "normalise with unit statistics. Pass bank_batches > 0.",
                        generator.name)
    module = build_module(generator, metadata, jit_compile=jit_compile)
    path = _atomic_save(module, output_dir)
    logging.info("Exported %s (dim_z %d, %d classes, %d×%d, step %d) to %s.",
                 generator.name, generator.dim_z, generator.num_classes,
                 generator.resolution, generator.resolution, int(module.step.numpy()), path)
    return path


def _bank_is_empty(generator):
    from tfbiggan.layers import normalization  # pylint: disable=import-outside-toplevel
    layers = normalization.batch_norm_layers(generator)
    return all(not np.any(layer.bank_mean.numpy()) for layer in layers)


FLAGS = flags.FLAGS


def _define_flags():
    flags.DEFINE_string("workdir", None, "Training workdir to export from.")
    flags.DEFINE_string("output", None, "Directory of the exported module (replaced if it "
                        "exists, once the new module is complete).")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
    flags.DEFINE_boolean("checkpoint_fallback", True,
                         "If the latest checkpoint cannot be read, export the newest readable "
                         "one (else stop with an error).")
    flags.DEFINE_integer("bank_batches", 16,
                         "Batches per truncation-bank row (0 keeps the current statistics).")
    flags.DEFINE_integer("bank_batch_size", 64, "Batch size of the bank collection.")
    flags.DEFINE_integer("bank_seed", 0, "Seed of the bank collection.")
    flags.DEFINE_boolean("jit_compile", False,
                         "Compile the module's generator call with XLA (slower on CPU).")
    flags.mark_flags_as_required(["workdir", "output"])


@cli.one_line_errors()
def main(argv):
    if len(argv) > 1:
        raise cli.CommandError(f"unexpected arguments: {argv[1:]}")
    cli.check_workdir(FLAGS.workdir, must_exist=True)
    # Importing the models registers their classes for deserialising config.json.
    import tfbiggan.models  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from tfbiggan.training import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
    generator, step, payload = workdir_lib.load_ema_generator(
        FLAGS.workdir, FLAGS.step, FLAGS.checkpoint_fallback)
    metadata = {"step": step, "config": payload.get("config") or {},
                "class_names": workdir_lib.class_names(payload)}
    path = export_generator(generator, FLAGS.output, metadata,
                            bank_batches=FLAGS.bank_batches,
                            bank_batch_size=FLAGS.bank_batch_size, bank_seed=FLAGS.bank_seed,
                            jit_compile=FLAGS.jit_compile)
    print(f"exported the EMA generator of step {step} ({generator.resolution}x"
          f"{generator.resolution}, {generator.num_classes} classes) to {path}")
    return 0


def run():
    """Console-script entry point (`tfbiggan-export`)."""
    _define_flags()
    cli.run(main, __doc__)


if __name__ == "__main__":
    run()
