"""Command line: python -m tfbiggan.train --config=configs/NAME.py --workdir=DIR

Any config field can be overridden, e.g. `--config.training.batch_size=64`. Running the same
command again resumes from the latest checkpoint in the workdir.

SIGTERM or SIGINT (Ctrl-C) ends the run after the current iteration with a checkpoint of its
step. Exit status: 0 when training finished; 1 on an error (bad config, unreadable
checkpoints, a config that does not match the workdir's, non-finite values, a failed
checkpoint write); 143 after SIGTERM and 130 after SIGINT (128 + the signal number), once the
checkpoint is written: rerun the same command to resume.
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
    # pylint: disable=import-outside-toplevel
    from tfbiggan.training import preemption, strategies, trainer
    preemption.STOP.install()  # From here on a signal stops the run at an iteration boundary.
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
        preemption.STOP.install()  # Again: a multi-worker start-up replaces SIGTERM's handler.
        result = trainer.train(config, _WORKDIR.value, strategy,
                               progress=not _NO_PROGRESS.value)
    except preemption.Preempted as stopped:
        sys.exit(stopped.exit_status)
    except (ValueError, trainer.NonFiniteError, trainer.CheckpointWriteError) as error:
        logging.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    logging.info("Finished at step %d.", int(result.step.numpy()))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
