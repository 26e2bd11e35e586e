"""Every field of every shipped config can be set on the command line, through the
ml_collections config-file flag that `python -m tfbiggan.train` defines (a locked config):
fields whose default is None are typed placeholders, so they accept a value too."""

import pathlib
import sys

import ml_collections
import pytest
from absl import flags
from ml_collections import config_dict, config_flags

from tfbiggan import losses
from tfbiggan.training import defaults
from tfbiggan.training import trainer as trainer_lib

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
# Fields whose default is None; before they were placeholders the flag parser refused them.
UNSET_BY_DEFAULT = ("data.pipeline.name", "data.pipeline.data_dir", "data.pipeline.manual_dir",
                    "data.pipeline.path", "training.jit_compile", "eval.inception",
                    "eval.cache_dir", "training.loss_options.real_label",
                    "model.overrides.dim_z", "model.overrides.sn_epsilon")


def fields(config, prefix=""):
    """[(dotted name, declared type, value)] of every leaf field of a ConfigDict."""
    found = []
    for key, value in config.items(preserve_field_references=True):
        name = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict) and len(value):
            found += fields(value, name + ".")
        elif isinstance(value, config_dict.FieldReference):
            found.append((name, value.get_type(), value.get()))
        else:
            found.append((name, type(value), value))
    return found


def new_value(kind, value):
    """A value of type `kind` that differs from `value`, and its command-line spelling."""
    if kind is bool:
        return (not value), str(not value)
    if kind is int:
        return (value or 0) + 3, str((value or 0) + 3)
    if kind is float:
        return (value or 0.0) + 0.25, repr((value or 0.0) + 0.25)
    if kind is str:
        changed = f"{value or 'set'}_changed"
        return changed, changed
    if kind is tuple:
        changed = tuple(value or ()) + (7,)
        return changed, repr(changed)
    if kind is object or kind is ml_collections.ConfigDict:
        changed = {"class_name": "RandomNormal", "config": {"stddev": 0.5}}
        return changed, repr(changed)
    raise AssertionError(f"a field of type {kind} cannot be set on the command line")


def parse(path, overrides):
    """The config of `path` after the command line `--config=path overrides...`."""
    argv = ["train", f"--config={path}", *overrides]
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                    flag_values=flag_values, lock_config=True, sys_argv=argv)
    flag_values(argv)
    return flag_values.config


def value_of(config, name):
    for part in name.split("."):
        config = config[part]
    return config.to_dict() if isinstance(config, ml_collections.ConfigDict) else config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_field_is_set_from_the_command_line(path):
    original = parse(path, [])
    walked = fields(original)
    names = [name for name, _, _ in walked]
    assert set(UNSET_BY_DEFAULT) <= set(names)
    # Every field of the defaults (the shipped configs only change values), ~100 of them.
    assert sorted(names) == sorted(name for name, _, _ in fields(defaults.base_config()))
    assert len(names) >= 90
    expected, overrides = {}, []
    for name, kind, value in walked:
        expected[name], text = new_value(kind, value)
        overrides.append(f"--config.{name}={text}")
    config = parse(path, overrides)
    assert config.is_locked
    for name in names:
        assert value_of(config, name) == expected[name], name
    # Nothing else appeared.
    assert sorted(n for n, _, _ in fields(config)) == sorted(names)


def test_a_data_path_and_loss_option_reach_the_run():
    config = parse(CONFIG_DIR / "digits.py", [
        "--config.data.pipeline.source=tfrecord",
        "--config.data.pipeline.path=/data/x.tfrecord-*",
        "--config.training.loss=non_saturating",
        "--config.training.loss_options.real_label=0.9"])
    assert config.data.pipeline.path == "/data/x.tfrecord-*"
    # pylint: disable-next=protected-access
    options = trainer_lib._set_fields(config.training.loss_options)
    assert options == {"real_label": 0.9}
    assert losses.get_gan_loss(config.training.loss, **options).name == "non_saturating"
    # Every declared option is one some loss accepts.
    for option in defaults.LOSS_OPTIONS:
        assert any(_accepts(name, option) for name in losses.list_gan_losses()), option


def _accepts(loss, option):
    try:
        losses.get_gan_loss(loss, **{option: 0.5})
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
