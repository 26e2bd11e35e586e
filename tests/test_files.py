"""Atomic writes (`tfbiggan.files`): the permissions of a normal write, all-or-nothing
replacement, and nothing left behind."""

import json
import os
import stat
import sys

import pytest

from tfbiggan import files


@pytest.fixture
def umask():
    """Sets the process umask for one test: `umask(0o027)`; restored afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask):
        os.umask(mask)
        return mask

    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [
    (0o022, 0o644, 0o755), (0o027, 0o640, 0o750), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_modes_follow_the_umask_like_open_and_makedirs(tmp_path, umask, mask, file_mode,
                                                       dir_mode):
    umask(mask)
    assert files.current_umask() == mask
    assert files.file_mode() == file_mode and files.directory_mode() == dir_mode
    # The same as what open() and os.makedirs() give.
    with open(tmp_path / "plain", "w", encoding="utf-8"):
        pass
    os.makedirs(tmp_path / "plain_dir")
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == file_mode
    assert stat.S_IMODE(os.stat(tmp_path / "plain_dir").st_mode) == dir_mode
    with files.atomic_write(tmp_path / "atomic.json") as f:
        json.dump({"a": 1}, f)
    with files.atomic_directory(tmp_path / "module") as staging:
        os.makedirs(os.path.join(staging, "variables"))
        with open(os.path.join(staging, "saved_model.pb"), "wb") as f:
            f.write(b"pb")
    assert stat.S_IMODE(os.stat(tmp_path / "atomic.json").st_mode) == file_mode
    assert stat.S_IMODE(os.stat(tmp_path / "module").st_mode) == dir_mode
    assert stat.S_IMODE(os.stat(tmp_path / "module" / "variables").st_mode) == dir_mode
    assert stat.S_IMODE(os.stat(tmp_path / "module" / "saved_model.pb").st_mode) == file_mode


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "out" / "results.json"  # The folder is created.
    with files.atomic_write(path) as f:
        f.write("first")
    with pytest.raises(RuntimeError, match="interrupted"):
        with files.atomic_write(path) as f:
            f.write("second, half")
            raise RuntimeError("interrupted")
    assert path.read_text(encoding="utf-8") == "first"
    with files.atomic_write(path, "wb") as f:
        f.write(b"\x89PNG")
    assert path.read_bytes() == b"\x89PNG"
    assert os.listdir(path.parent) == ["results.json"]
    with pytest.raises(ValueError, match="`mode` must be 'w' or 'wb', got 'a'"):
        with files.atomic_write(path, "a"):
            pass


def test_atomic_path_keeps_the_suffix_and_cleans_up(tmp_path, umask):
    umask(0o022)
    seen = []
    with files.atomic_path(tmp_path / "model.keras", suffix=".keras") as temporary:
        seen.append(temporary)
        assert temporary.endswith(".keras") and os.path.dirname(temporary) == str(tmp_path)
        os.remove(temporary)  # A writer that replaces the file (as zip writers do).
        with open(temporary, "wb") as f:
            f.write(b"zip")
        os.chmod(temporary, 0o600)
    assert (tmp_path / "model.keras").read_bytes() == b"zip"
    assert stat.S_IMODE(os.stat(tmp_path / "model.keras").st_mode) == 0o644
    with pytest.raises(OSError):
        with files.atomic_path(tmp_path / "other.keras", suffix=".keras") as temporary:
            raise OSError("disk full")
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


def test_atomic_directory_replaces_an_old_one_or_leaves_it(tmp_path):
    target = tmp_path / "module"
    with files.atomic_directory(target) as staging:
        with open(os.path.join(staging, "version"), "w", encoding="utf-8") as f:
            f.write("1")
    with pytest.raises(RuntimeError):
        with files.atomic_directory(target) as staging:
            with open(os.path.join(staging, "version"), "w", encoding="utf-8") as f:
                f.write("2, half written")
            raise RuntimeError("save failed")
    assert (target / "version").read_text(encoding="utf-8") == "1"
    with files.atomic_directory(target) as staging:
        with open(os.path.join(staging, "version"), "w", encoding="utf-8") as f:
            f.write("3")
    assert (target / "version").read_text(encoding="utf-8") == "3"
    assert os.listdir(tmp_path) == ["module"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
