"""Command line: python -m tfbiggan.train --config=configs/NAME.py --workdir=DIR

Any config field can be overridden, e.g. `--config.training.batch_size=64`. Running the same
command again resumes from the latest checkpoint in the workdir.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and logs.")
_STEPS = flags.DEFINE_integer("steps", None, "Total iterations (overrides training.steps).")
_STRATEGY = flags.DEFINE_enum(
    "strategy", "default", ["default", "one_device", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy.")
_TPU = flags.DEFINE_string("tpu", None, "TPU name or grpc://host:port for --strategy=tpu.")
_NO_PROGRESS = flags.DEFINE_bool("no_progress", False, "Hide the console progress line.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    # pylint: disable-next=import-outside-toplevel
    from tfbiggan.training import launch, strategies, trainer
    config = _CONFIG.value
    if config is None or _WORKDIR.value is None:
        raise app.UsageError("--config and --workdir are required.")
    if _STEPS.value is not None:
        if _STEPS.value < 1:
            raise app.UsageError(f"--steps must be a positive integer, got {_STEPS.value}.")
        config.unlock()
        config.training.steps = _STEPS.value
        config.lock()
    try:
        strategy = strategies.make_strategy(_STRATEGY.value, _TPU.value)
        result = launch.train(config, _WORKDIR.value, strategy,
                              progress=not _NO_PROGRESS.value)
    except (ValueError, trainer.NonFiniteError, trainer.CheckpointWriteError) as error:
        logging.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    logging.info("Finished at step %d.", int(result.step.numpy()))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
