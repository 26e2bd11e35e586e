"""Resuming with other settings (tfbiggan/training/resume_config.py): model settings that
differ from the workdir's config.json stop the run before anything is restored, naming each
field with both values; other settings may change and are logged."""

import json
import os
import sys

import pytest

from tests.reliability import recorder
from tests.training import helpers
from tfbiggan.training import resume_config
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training import workdir as workdir_lib

MISMATCH = recorder.case(
    "Config", "Resuming a ch-4 workdir with `model.overrides.ch=8`, a new `sn_epsilon` and "
    "another `num_truncation_stats`", "ConfigMismatchError (a ValueError: exit code 1 on the "
    "command line) naming every differing model field with both values, before anything is "
    "restored; config.json unchanged", message="model.overrides.ch: 4 in config.json, 8 now")
SWITCHES = recorder.case(
    "Config", "Resuming with `training.mode` changed or historical averaging switched on",
    "named as incompatible (the checkpoint holds other weights); changing the averaging "
    "weight alone is allowed", message="training.historical_averaging_g: 0.0 in config.json")


@MISMATCH
@pytest.mark.slow
def test_model_mismatch_names_every_field_and_both_values(tmp_path, caplog):
    workdir = str(tmp_path)
    config = helpers.tiny_config(num_d_steps=1, steps=1)
    trainer_lib.Trainer(config, workdir).train(progress=False)
    stored = workdir_lib.read_config(workdir)

    other = helpers.tiny_config(num_d_steps=1, steps=5, g_lr=1e-3)
    other.model.overrides.ch = 8
    other.model.overrides.sn_epsilon = 1e-6
    other.model.overrides.num_truncation_stats = 3
    with pytest.raises(resume_config.ConfigMismatchError) as error:
        trainer_lib.Trainer(other, workdir).train(progress=False)
    message = str(error.value)
    assert isinstance(error.value, ValueError)
    assert message.startswith(f"Cannot resume {workdir}: the config differs from the one it "
                              f"was trained with (config.json) in settings that decide the "
                              f"checkpoint's weights: ")
    assert ("model.overrides.ch: 4 in config.json, 8 now; "
            "model.overrides.num_truncation_stats: 0 in config.json, 3 now; "
            "model.overrides.sn_epsilon: None in config.json, 1e-06 now. Resume with the "
            "settings of config.json, or train in a new workdir.") in message
    assert "g_lr" not in message and "training.steps" not in message  # Allowed changes.
    assert workdir_lib.read_config(workdir) == stored

    # The same model with other learning rate and steps resumes; the changes are logged and
    # config.json records them.
    allowed = helpers.tiny_config(num_d_steps=1, steps=5, g_lr=1e-3)
    with caplog.at_level("INFO", logger="absl"):
        assert trainer_lib.Trainer(allowed, workdir).restore_or_initialize() == 1
    assert (f"Resuming {workdir} with changed settings: training.g_lr: 0.0002 in config.json, "
            f"0.001 now; training.steps: 1 in config.json, 5 now.") in caplog.text
    with open(os.path.join(workdir, workdir_lib.CONFIG_FILE), encoding="utf-8") as f:
        assert json.load(f)["config"]["training"]["g_lr"] == 1e-3


@SWITCHES
def test_compare_classifies_fields():
    stored = {"model": {"preset": "biggan_32", "overrides": {"ch": 8}},
              "training": {"mode": "gan", "historical_averaging_g": 0.0,
                           "historical_averaging_d": 0.5, "g_lr": 1e-4, "loss_options": {}},
              "log": {"every": 10}}
    current = {"model": {"preset": "biggan_32", "overrides": {"ch": 8, "dim_z": None}},
               "training": {"mode": "semi_supervised", "historical_averaging_g": 0.1,
                            "historical_averaging_d": 0.7, "g_lr": 2e-4,
                            "loss_options": {"real_label": None}},
               "log": {"every": 20}, "checkpoint": {"every_secs": 0.0}}
    incompatible, changed = resume_config.compare(stored, current)
    assert incompatible == [("training.historical_averaging_g", 0.0, 0.1),
                            ("training.mode", "gan", "semi_supervised")]
    # A field absent from an older config.json equals an unset (None) one; a new field with
    # a value is a change.
    assert changed == [("checkpoint.every_secs", "(absent)", 0.0), ("log.every", 10, 20),
                       ("training.g_lr", 1e-4, 2e-4),
                       ("training.historical_averaging_d", 0.5, 0.7)]
    with pytest.raises(resume_config.ConfigMismatchError, match=SWITCHES.message.replace(
            ".", r"\.")):
        resume_config.check(stored, current)
    assert resume_config.compare(stored, stored) == ([], [])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
