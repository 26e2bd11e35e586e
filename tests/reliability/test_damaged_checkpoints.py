"""Damaged checkpoints (tfbiggan/training/checkpoints.py): a truncated, an empty and a
bit-flipped data file, a missing .index, and a `checkpoint` state file naming a checkpoint
whose files are gone. Each is reported by name with its problem and the newest intact
checkpoint is restored (every tensor equal to it); with the fallback off each is an error
naming it. The trainer, the workdir loaders behind tfbiggan.evaluate / tfbiggan.sample /
export.export_hub and the command lines are checked on a truncated latest checkpoint."""

import glob
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from tests import conftest
from tests.reliability import common, recorder
from tests.training import helpers
from tfbiggan import evaluate, sample
from tfbiggan.training import checkpoints
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training import workdir as workdir_lib


def _data_file(prefix):
    return glob.glob(prefix + ".data-*")[0]


def _truncate(prefix):
    path = _data_file(prefix)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _empty(prefix):
    open(_data_file(prefix), "wb").close()  # pylint: disable=consider-using-with


def _flip(prefix):
    path = _data_file(prefix)
    data = bytearray(open(path, "rb").read())  # pylint: disable=consider-using-with
    data[len(data) // 2] ^= 0x01  # One bit in the middle of the weights.
    with open(path, "wb") as f:
        f.write(data)


def _remove_index(prefix):
    os.remove(prefix + ".index")


def _remove_all(prefix):
    for path in glob.glob(prefix + ".*"):
        os.remove(path)


# (damage, its reason as reported, its table row).
CASES = {
    "truncated": (_truncate, "its data is shorter than its index records, the file was "
                             "truncated (Read less bytes than requested)"),
    "zero_length": (_empty, "ckpt-3.data-00000-of-00001 is empty (0 bytes)"),
    "bit_flip": (_flip, "its data fail their checksum, the bytes changed after writing"),
    "missing_index": (_remove_index, "ckpt-3.index is missing"),
    "state_names_missing": (_remove_all, "none of its files exist (ckpt-3.index, "
                                         "ckpt-3.data-*)"),
}
_FAULTS = {
    "truncated": "Latest checkpoint's data file truncated to half",
    "zero_length": "Latest checkpoint's data file zero-length",
    "bit_flip": "One bit flipped in the latest checkpoint's data file",
    "missing_index": "Latest checkpoint's `.index` file missing",
    "state_names_missing": "`checkpoint` state file names a checkpoint whose files are gone",
}
ROWS = {name: recorder.case(
    "Checkpoints", fault, "reported by name with its problem; the newest intact checkpoint is "
    "restored (every tensor equal to it); with the fallback off an error naming it",
    message=CASES[name][1]) for name, fault in _FAULTS.items()}
ALL_DAMAGED = recorder.case(
    "Checkpoints", "Every checkpoint of the directory damaged",
    "CheckpointReadError listing each with its problem; never a silent start from step 0",
    message="Not starting again from step 0 while checkpoints exist")
TRAINER = recorder.case(
    "Checkpoints", "Training resumed on a workdir whose latest checkpoint is truncated",
    "warning naming it; resumes from the newest intact one; the damaged files move to "
    "checkpoints/damaged/ and leave the state file; training goes on",
    message="Moved the damaged checkpoint file(s)")
STATE_FILE = recorder.case(
    "Checkpoints", "Zero-length `checkpoint` state file",
    "moved to checkpoints/damaged/, a new one lists the intact checkpoint files, training "
    "resumes from the newest", message="cannot be read")
CLI_STRICT = recorder.case(
    "Checkpoints", "`--config.checkpoint.fallback=False` with a truncated latest checkpoint "
    "(command line)", "exit code 1 with a one-line error naming the checkpoint and the "
    "option; no traceback", message="Not falling back to an earlier checkpoint")
LOADERS = recorder.case(
    "Checkpoints", "Truncated latest checkpoint read by tfbiggan.evaluate, tfbiggan.sample "
    "and export.export_hub", "they report it and use the newest intact one; "
    "`--nocheckpoint_fallback` or `--step` of the damaged one is an error naming it",
    message="(step 3) cannot be read")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A workdir with ckpt-1, ckpt-2, ckpt-3 of a tiny run, and a trainer to restore into."""
    config = helpers.tiny_config(num_d_steps=1, steps=3)
    config.checkpoint.every = 1
    workdir = str(tmp_path_factory.mktemp("base"))
    trainer_lib.Trainer(config, workdir).train(progress=False)
    target = trainer_lib.Trainer(config, str(tmp_path_factory.mktemp("target")))
    return config, workdir, target


def _damaged_copy(base_workdir, tmp_path, damage):
    workdir = str(tmp_path / "run")
    shutil.copytree(base_workdir, workdir)
    directory = workdir_lib.checkpoint_dir(workdir)
    if damage is not None:
        damage(os.path.join(directory, "ckpt-3"))
    return workdir, directory


def _restored_tensors(checkpoint, tmp_path):
    path = checkpoint.write(str(tmp_path / "restored" / "ckpt"))
    tensors = common.checkpoint_tensors(path)
    tensors.pop("save_counter/.ATTRIBUTES/VARIABLE_VALUE", None)
    return tensors


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_damaged_latest_is_named_and_the_newest_intact_one_restored(name, base, tmp_path,
                                                                     caplog):
    _, base_workdir, target = base
    damage, reason = CASES[name]
    row = ROWS[name]
    workdir, directory = _damaged_copy(base_workdir, tmp_path, damage)
    latest = os.path.join(directory, "ckpt-3")

    with pytest.raises(checkpoints.CheckpointReadError) as error:
        checkpoints.restore(target.checkpoint, directory, fallback=False)
    message = str(error.value)
    assert message.startswith(f"The latest checkpoint {latest} cannot be read: ")
    assert row.message in message
    assert "Not falling back to an earlier checkpoint because the fallback is off" in message

    with caplog.at_level("WARNING"):
        restored = checkpoints.restore(target.checkpoint, directory)
    assert restored.path == os.path.join(directory, "ckpt-2") and restored.step == 2
    assert [prefix for prefix, _ in restored.damaged] == [latest]
    assert row.message in restored.damaged[0][1]
    assert f"Checkpoint {latest} cannot be read: {reason}" in caplog.text
    assert int(target.step.numpy()) == 2
    expected = common.checkpoint_tensors(os.path.join(directory, "ckpt-2"))
    expected.pop("save_counter/.ATTRIBUTES/VARIABLE_VALUE", None)
    common.assert_same_tensors(_restored_tensors(target.checkpoint, tmp_path), expected)


for _row in ROWS.values():
    _row(test_damaged_latest_is_named_and_the_newest_intact_one_restored)


@ALL_DAMAGED
@pytest.mark.slow
def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(base, tmp_path):
    _, base_workdir, target = base
    workdir, directory = _damaged_copy(base_workdir, tmp_path, _truncate)
    _empty(os.path.join(directory, "ckpt-2"))
    _remove_index(os.path.join(directory, "ckpt-1"))
    with pytest.raises(checkpoints.CheckpointReadError) as error:
        checkpoints.restore(target.checkpoint, directory)
    message = str(error.value)
    assert message.startswith(f"No checkpoint in {directory} can be read (ckpt-3: its data "
                              f"is shorter than its index records")
    assert "ckpt-2: ckpt-2.data-00000-of-00001 is empty (0 bytes); " \
           "ckpt-1: ckpt-1.index is missing)" in message
    assert ALL_DAMAGED.message in message
    del workdir


@TRAINER
@pytest.mark.slow
def test_trainer_resumes_from_the_newest_intact_checkpoint(base, tmp_path, caplog):
    config, base_workdir, _ = base
    workdir, directory = _damaged_copy(base_workdir, tmp_path, _truncate)
    strict = config.copy_and_resolve_references()
    strict.checkpoint.fallback = False
    with pytest.raises(checkpoints.CheckpointReadError,
                       match=r"set `checkpoint.fallback=True` \(--config.checkpoint."
                             r"fallback=True\)"):
        trainer_lib.Trainer(strict, workdir).train(progress=False)

    with caplog.at_level("INFO", logger="absl"):
        trainer_lib.Trainer(config, workdir).train(steps=4, progress=False)
    assert f"Checkpoint {os.path.join(directory, 'ckpt-3')} cannot be read" in caplog.text
    assert f"Resumed from {os.path.join(directory, 'ckpt-2')} (step 2)" in caplog.text
    assert TRAINER.message in caplog.text
    damaged = os.path.join(directory, checkpoints.DAMAGED_DIR)
    assert sorted(os.listdir(damaged)) == ["ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    # Steps 3 and 4 were trained again and written; the new ckpt-3 reads.
    assert [os.path.basename(p) for p in common.listed_checkpoints(workdir)] == [
        "ckpt-1", "ckpt-2", "ckpt-3", "ckpt-4"]
    for path in common.listed_checkpoints(workdir):
        tensors = common.checkpoint_tensors(path)
        assert int(tensors["step/.ATTRIBUTES/VARIABLE_VALUE"]) == common.step_of(path)


@STATE_FILE
@pytest.mark.slow
def test_unreadable_state_file_is_replaced(base, tmp_path, caplog):
    config, base_workdir, _ = base
    workdir, directory = _damaged_copy(base_workdir, tmp_path, None)
    open(os.path.join(directory, "checkpoint"), "w").close()  # pylint: disable=consider-using-with
    with caplog.at_level("INFO", logger="absl"):
        trainer = trainer_lib.Trainer(config, workdir)
        assert trainer.restore_or_initialize() == 3
    assert f"the state file {os.path.join(directory, 'checkpoint')} {STATE_FILE.message}" \
           in caplog.text
    assert os.path.getsize(os.path.join(directory, checkpoints.DAMAGED_DIR, "checkpoint")) == 0
    assert [os.path.basename(p) for p in common.listed_checkpoints(workdir)] == [
        "ckpt-1", "ckpt-2", "ckpt-3"]


@LOADERS
@pytest.mark.slow
def test_evaluate_sample_and_export_loaders_fall_back(base, tmp_path, caplog):
    _, base_workdir, _ = base
    workdir, directory = _damaged_copy(base_workdir, tmp_path, _truncate)
    latest = os.path.join(directory, "ckpt-3")
    with caplog.at_level("WARNING"):
        _, step, _, path = evaluate.load_source(workdir=workdir)
    assert (step, path) == (2, os.path.join(directory, "ckpt-2"))
    assert f"Checkpoint {latest} cannot be read" in caplog.text
    generator, names = sample.load_source(workdir=workdir)
    assert generator.num_classes == 10 and names == [str(digit) for digit in range(10)]
    with pytest.raises(checkpoints.CheckpointReadError, match="set --checkpoint_fallback"):
        evaluate.load_source(workdir=workdir, fallback=False)
    with pytest.raises(checkpoints.CheckpointReadError, match="set --checkpoint_fallback"):
        sample.load_source(workdir=workdir, fallback=False)
    with pytest.raises(checkpoints.CheckpointReadError) as error:
        workdir_lib.load_ema_generator(workdir, step=3)
    assert str(error.value).startswith(f"The checkpoint {latest} {LOADERS.message}: its data")
    assert workdir_lib.load_ema_generator(workdir, step=1)[1] == 1
    # Nothing was moved: the loaders only read.
    assert not os.path.exists(os.path.join(directory, checkpoints.DAMAGED_DIR))

    # The export command line: the module carries the step it was exported from.
    output = str(tmp_path / "module")
    result = subprocess.run(
        [sys.executable, "-m", "export.export_hub", f"--workdir={workdir}",
         f"--output={output}", "--bank_batches=0"], cwd=conftest.REPO_ROOT, env=common.env(),
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Checkpoint {latest} cannot be read" in result.stderr
    assert int(tf.saved_model.load(output).step.numpy()) == 2


@CLI_STRICT
@pytest.mark.slow
def test_command_line_with_the_fallback_off_stops_with_a_one_line_error(base, tmp_path):
    _, base_workdir, _ = base
    workdir, directory = _damaged_copy(base_workdir, tmp_path, _truncate)
    code, _, stderr, _ = common.run_train(workdir, "--config.training.steps=5",
                                          "--config.checkpoint.fallback=False")
    assert code == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    assert (f"error: The latest checkpoint {os.path.join(directory, 'ckpt-3')} cannot be "
            f"read: its data is shorter than its index records") in stderr
    assert CLI_STRICT.message in stderr and "--config.checkpoint.fallback=True" in stderr
    assert [os.path.basename(p) for p in common.listed_checkpoints(workdir)] == [
        "ckpt-1", "ckpt-2", "ckpt-3"]  # Nothing changed.


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
