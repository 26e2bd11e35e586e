"""Runs an experiment config with the trainer of its `training.mode`.

    "gan"              tfbiggan.training.trainer.Trainer
    "semi_supervised"  tfbiggan.training.semi_supervised.SemiSupervisedTrainer (K+1 D)

`python -m tfbiggan.train` and the digits demo start runs through `train`. The choice lives
here, above both trainers, so that neither trainer module imports the other's subclass.
"""

from tfbiggan.training import semi_supervised
from tfbiggan.training import trainer as trainer_lib

TRAINERS = {"gan": trainer_lib.Trainer,
            "semi_supervised": semi_supervised.SemiSupervisedTrainer}


def make_trainer(config, workdir, strategy=None):
    """The trainer of `config.training.mode` (default "gan"), built for `workdir`.

    An unknown mode is reported by the config checks of `Trainer`, with the accepted names.

    Example:
      >>> trainer = make_trainer(defaults.digits_config(), "/tmp/digits")
      >>> trainer.train(steps=10)
    """
    mode = config.training.get("mode", "gan")
    return TRAINERS.get(mode, trainer_lib.Trainer)(config, workdir, strategy)


def train(config, workdir, strategy=None, steps=None, progress=True):
    """Trains `config` in `workdir` (resuming if it holds checkpoints). Returns the trainer.

    Args:
      config: the experiment ConfigDict (see configs/).
      workdir: where checkpoints, config.json, metrics.jsonl and summaries go.
      strategy: a tf.distribute.Strategy (default: the default strategy).
      steps: total iterations (default `training.steps`).
      progress: show the console progress line.

    Example:
      >>> trainer = train(defaults.digits_config(), "/tmp/digits", steps=100)
      >>> int(trainer.step.numpy())
      100
    """
    trainer = make_trainer(config, workdir, strategy)
    trainer.train(steps=steps, progress=progress)
    return trainer
