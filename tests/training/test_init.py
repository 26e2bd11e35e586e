"""`tfbiggan.training` itself: the documented `Trainer` and `train` names, loaded on use."""

import subprocess
import sys

import pytest

from tests import conftest


def test_trainer_and_train_are_importable_from_the_package():
    from tfbiggan import training  # pylint: disable=import-outside-toplevel
    from tfbiggan.training import launch, trainer  # pylint: disable=import-outside-toplevel
    assert training.Trainer is trainer.Trainer
    assert training.train is launch.train
    assert {"Trainer", "train"} <= set(dir(training))
    with pytest.raises(AttributeError, match="no attribute 'Trainr'"):
        training.Trainr  # pylint: disable=pointless-statement


@pytest.mark.slow
def test_light_submodules_do_not_load_the_trainer():
    """A config file's `from tfbiggan.training.defaults import ...` stays without the trainer
    (and so without its import of the data pipelines and evaluation)."""
    code = ("import sys; from tfbiggan.training import defaults, workdir; "
            "print('tfbiggan.training.trainer' in sys.modules); "
            "from tfbiggan.training import Trainer; "
            "print('tfbiggan.training.trainer' in sys.modules, Trainer.__name__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=conftest.REPO_ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True", "Trainer"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
