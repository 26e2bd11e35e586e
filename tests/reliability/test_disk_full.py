"""The disk fills up while a checkpoint is written: the previous checkpoint survives and stays
loadable, the partial files are removed and the error names the directory and the intact
checkpoint. One test uses a real size-limited tmpfs (in a private mount namespace), one
simulates ENOSPC in-process."""

import errno
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from tests import conftest
from tests.reliability import common, recorder
from tests.training import helpers
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training import workdir as workdir_lib

TMPFS = recorder.case(
    "Checkpoints", "The disk (a size-limited tmpfs) fills up while a checkpoint is written",
    "CheckpointWriteError, exit code 1; the previous checkpoint is listed, intact and "
    "loadable; the partial files are removed; a rerun resumes from it",
    message="Cannot write the checkpoint of step 2 to")
ENOSPC = recorder.case(
    "Checkpoints", "The checkpoint writer raises ENOSPC after writing part of the files",
    "CheckpointWriteError naming the directory, the error and the intact previous checkpoint; "
    "the partial files are removed", message="is intact and a rerun resumes from it")

_SCRIPT = r"""
set -u
mount -t tmpfs -o size=64m tmpfs "$MNT" || exit 97
"$@" --workdir="$MNT/run" --config.training.steps=1 > "$OUT/first.log" 2>&1 || exit 98
# Room for what is there now plus half a checkpoint: the next checkpoint cannot fit.
used=$(du -sk "$MNT" | cut -f1)
ckpt=$(du -sk "$MNT/run/checkpoints" | cut -f1)
mount -o remount,size=$((used + ckpt / 2))k "$MNT" || exit 96
"$@" --workdir="$MNT/run" --config.training.steps=3 > "$OUT/second.log" 2>&1
code=$?
ls -la "$MNT/run/checkpoints" > "$OUT/listing.txt"
cp -a "$MNT/run" "$OUT/run"
exit $code
"""


def _can_mount_privately():
    if shutil.which("unshare") is None:
        return "the `unshare` command is not available"
    try:
        result = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True,
                                timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`unshare --mount` failed: {error}"
    if result.returncode:
        return f"`unshare --mount` is not permitted here: {result.stderr.strip()}"
    return None


@TMPFS
@pytest.mark.slow
def test_full_tmpfs_during_checkpoint_write(tmp_path):
    reason = _can_mount_privately()
    if reason:
        pytest.skip(reason)
    mount_point, out = tmp_path / "mnt", tmp_path / "out"
    mount_point.mkdir()
    out.mkdir()
    command = common.train_command("unused", "--config.checkpoint.every=1",
                                   "--config.checkpoint.keep=1")
    command = [c for c in command if not c.startswith("--workdir=")]
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SCRIPT, "sh",
         *command], cwd=conftest.REPO_ROOT, env=common.env(MNT=str(mount_point), OUT=str(out)),
        capture_output=True, text=True, timeout=240, check=False)
    if result.returncode == 97:
        pytest.skip(f"mounting a tmpfs is not permitted here: {result.stderr.strip()}")
    assert result.returncode not in (96, 98), (result.stderr, _read(out / "first.log")[-3000:])
    log = _read(out / "second.log")
    assert result.returncode == 1, log[-4000:]
    checkpoints = str(mount_point / "run" / "checkpoints")
    assert f"{TMPFS.message} {checkpoints}" in log, log[-4000:]
    assert "No space left on device" in log or "ENOSPC" in log or "space" in log.lower(), \
        log[-4000:]
    assert f"the previous checkpoint {checkpoints}/ckpt-1 (step 1) is intact" in log, log[-4000:]
    # What was left on the full disk: ckpt-1 listed and loadable, nothing of ckpt-2.
    workdir = str(out / "run")
    names = os.listdir(workdir_lib.checkpoint_dir(workdir))
    assert not [n for n in names if n.startswith("ckpt-2")], _read(out / "listing.txt")
    listed = common.listed_checkpoints(workdir)
    assert [os.path.basename(p) for p in listed] == ["ckpt-1"]
    tensors = common.checkpoint_tensors(os.path.join(workdir_lib.checkpoint_dir(workdir),
                                                     "ckpt-1"))
    assert int(tensors["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 1
    # With room again, the same command resumes from step 1.
    restored = trainer_lib.Trainer(helpers.tiny_config(), workdir)
    assert restored.restore_or_initialize() == 1


def _read(path):
    return path.read_text(encoding="utf-8") if path.exists() else ""


@ENOSPC
@pytest.mark.slow
def test_enospc_mid_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    config = helpers.tiny_config(num_d_steps=1)
    config.checkpoint.every = 1
    workdir = str(tmp_path)
    trainer = trainer_lib.Trainer(config, workdir)
    trainer.train(steps=1, progress=False)
    directory = workdir_lib.checkpoint_dir(workdir)
    good = common.checkpoint_tensors(os.path.join(directory, "ckpt-1"))

    def full_disk(*args, **kwargs):
        del args, kwargs
        with open(os.path.join(directory, "ckpt-2.data-00000-of-00001"), "wb") as f:
            f.write(b"\0" * 100)  # Part of the data, then the disk is full.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), directory)

    monkeypatch.setattr(trainer.manager, "save", full_disk)
    with pytest.raises(trainer_lib.CheckpointWriteError) as error:
        trainer.train(steps=3, progress=False)
    message = str(error.value)
    assert message.startswith(f"Cannot write the checkpoint of step 2 to {directory}: ")
    assert "No space left on device" in message
    assert (f"the previous checkpoint {os.path.join(directory, 'ckpt-1')} (step 1) "
            f"{ENOSPC.message}") in message
    assert isinstance(error.value, OSError)
    assert sorted(os.listdir(directory)) == ["checkpoint", "ckpt-1.data-00000-of-00001",
                                             "ckpt-1.index"]
    assert tf.train.latest_checkpoint(directory).endswith("ckpt-1")
    common.assert_same_tensors(common.checkpoint_tensors(os.path.join(directory, "ckpt-1")),
                               good)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
