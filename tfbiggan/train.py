"""Trains a GAN from an experiment config.

    tfbiggan-train --config=digits --workdir=DIR
    python -m tfbiggan.train --config=configs/digits.py --workdir=DIR [--steps=N] \\
        [--strategy=default|one_device|mirrored|multi_worker|tpu] [--tpu=NAME]

--config is a config file or the name of a shipped config. Any config field can be set on the
command line, e.g. `--config.training.batch_size=64`. Running the same command again resumes
from the latest checkpoint in the workdir.

SIGTERM or SIGINT (Ctrl-C) ends the run after the current iteration with a checkpoint of its
step. Exit status: 0 when training finished; 1 on an error (bad config, unreadable
checkpoints, a config that does not match the workdir's, non-finite values, a failed
checkpoint write); 143 after SIGTERM and 130 after SIGINT (128 + the signal number), once the
checkpoint is written: rerun the same command to resume.
"""

import sys

from absl import flags, logging
from ml_collections import config_flags

from tfbiggan import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config: a config file or the name of a shipped config.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and logs.")
_STEPS = flags.DEFINE_integer("steps", None, "Total iterations (overrides training.steps).")
_STRATEGY = flags.DEFINE_enum(
    "strategy", "default", ["default", "one_device", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy.")
_STRATEGY_NAMES = {"default": "the default strategy", "one_device": "OneDeviceStrategy",
                   "mirrored": "MirroredStrategy", "multi_worker": "MultiWorkerMirroredStrategy",
                   "tpu": "TPUStrategy"}
_TPU = flags.DEFINE_string("tpu", None, "TPU name or grpc://host:port for --strategy=tpu.")
cli.define_progress_flags()


@cli.one_line_errors("--config.data.pipeline.{field}={value}")
def main(argv):
    if len(argv) > 1:
        raise cli.CommandError(f"unexpected arguments: {argv[1:]}")
    # pylint: disable-next=import-outside-toplevel
    from tfbiggan.training import preemption
    preemption.STOP.install()  # From here on a signal stops the run at an iteration boundary.
    config = _CONFIG.value
    if config is None:
        raise cli.CommandError("--config is required (a config file or the name of a shipped "
                               f"config: {', '.join(cli.shipped_configs())}).")
    workdir = cli.check_workdir(_WORKDIR.value, must_exist=False)
    if _STEPS.value is not None:
        if _STEPS.value < 1:
            raise cli.CommandError(f"--steps must be a positive integer, got {_STEPS.value}.")
        config.unlock()
        config.training.steps = _STEPS.value
        config.lock()
    from tfbiggan.training import launch, strategies, trainer  # pylint: disable=import-outside-toplevel
    strategy = strategies.make_strategy(_STRATEGY.value, _TPU.value)
    logging.info("Training with %s (%d replica(s) in sync).", _STRATEGY_NAMES[_STRATEGY.value],
                 strategy.num_replicas_in_sync)
    try:
        preemption.STOP.install()  # Again: a multi-worker start-up replaces SIGTERM's handler.
        result = launch.train(config, workdir, strategy, progress=cli.progress_enabled())
    except preemption.Preempted as stopped:
        sys.exit(stopped.exit_status)
    except (trainer.NonFiniteError, trainer.CheckpointWriteError) as error:
        raise cli.CommandError(str(error)) from error
    logging.info("Finished at step %d.", int(result.step.numpy()))


def run():
    """Console-script entry point (`tfbiggan-train`)."""
    cli.run(main, __doc__, config_flag="config", usual_fields=cli.TRAINING_FIELDS)


if __name__ == "__main__":
    run()
