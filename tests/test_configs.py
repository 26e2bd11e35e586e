"""Every experiment config loads, passes the config checks and documents its command."""

import ast
import importlib.util
import pathlib
import sys

import pytest

from tfbiggan.models import presets
from tfbiggan.training import config_checks, defaults

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_expected_configs_exist():
    names = {p.stem for p in CONFIGS}
    assert {"digits", "cifar10", "imagenet128", "imagenet256", "imagenet512",
            "biggan_deep_128"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_valid_and_documents_its_command(path):
    module = _load(path)
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert f"--config=configs/{path.name}" in docstring
    assert "python -m tfbiggan.train" in docstring
    config = module.get_config()
    config_checks.check(config)
    assert config.model.preset in presets.PRESETS
    # The same fields as the defaults: nothing misspelt, nothing missing.
    assert set(config.keys()) == set(defaults.base_config().keys())
    for section in ("training", "checkpoint", "log", "data"):
        assert set(config[section].keys()) == set(defaults.base_config()[section].keys())


def test_paper_recipe_values():
    config = _load(CONFIG_DIR / "imagenet128.py").get_config()
    t = config.training
    assert (t.batch_size * t.accumulation_steps, t.num_d_steps) == (2048, 2)
    assert (t.g_lr, t.d_lr, t.beta1, t.beta2) == (5e-5, 2e-4, 0.0, 0.999)
    assert (t.ema_decay, t.ortho_beta, t.loss) == (0.9999, 1e-4, "hinge")
    cifar = _load(CONFIG_DIR / "cifar10.py").get_config().training
    assert (cifar.batch_size, cifar.num_d_steps, cifar.g_lr, cifar.d_lr) == (50, 4, 2e-4, 2e-4)


def test_config_checks_name_the_bad_field():
    config = defaults.base_config()
    config.training.batch_size = 0
    with pytest.raises(ValueError, match=r"`training.batch_size` must be a positive integer, "
                                         r"got 0"):
        config_checks.check(config)
    config = defaults.base_config()
    config.training.g_lr = -1.0
    with pytest.raises(ValueError, match=r"`training.g_lr` must be a positive number"):
        config_checks.check(config)
    config = defaults.base_config()
    config.model.preset = "biggan_48"
    with pytest.raises(ValueError, match=r"`model.preset` 'biggan_48' is not a preset"):
        config_checks.check(config)
    config = defaults.base_config()
    config.training.loss = "hingee"
    with pytest.raises(ValueError, match=r"`training.loss` 'hingee' is not a loss"):
        config_checks.check(config)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
