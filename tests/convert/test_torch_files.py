"""PyTorch files read without torch; pickles asking for anything else are refused unrun."""

import builtins
import collections
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.convert import torch_writer as tw
from tfbiggan import convert
from tfbiggan.convert import restricted_pickle, state_files, torch_files

# The texts the reliability table (tests/reliability/catalog.py) says these tests check.
REFUSED = "which a state dict never needs"
TRUNCATED = "damaged or truncated"
UNKNOWN = "is not a state dict file"

ARRAYS = {
    "conv.weight": np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7,
    "half": np.linspace(-1, 1, 6).astype(np.float16).reshape(2, 3),
    "steps": np.array([3, -4], np.int64),
    "flag": np.array([True, False]),
    "scalar": np.array(2.5, np.float32),
    "empty": np.zeros((0, 4), np.float32),
}


@pytest.mark.parametrize("writer", [tw.write_zip, tw.write_legacy], ids=["zip", "legacy"])
def test_state_dict_round_trip(tmp_path, writer):
    path = writer(str(tmp_path / "model.pth"), ARRAYS)
    kind = state_files.file_kind(path)
    assert kind == ("torch_zip" if writer is tw.write_zip else "torch_legacy")
    state = convert.read_state_dict(path)
    assert list(state) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert state[name].dtype == array.dtype and state[name].shape == array.shape, name
        np.testing.assert_array_equal(state[name], array)


def test_views_offsets_strides_and_bfloat16(tmp_path):
    base = np.arange(24, dtype=np.float32)
    storage = tw.Storage("0", base)
    value = collections.OrderedDict(
        whole=tw.Tensor(storage, 0, (4, 6), (6, 1)),
        transposed=tw.Tensor(storage, 0, (6, 4), (1, 6)),
        tail=tw.Tensor(storage, 10, (2, 3), (3, 1)))
    path = tw.write_zip(str(tmp_path / "views.pth"), value, [storage])
    state = convert.read_state_dict(path)
    np.testing.assert_array_equal(state["whole"], base.reshape(4, 6))
    np.testing.assert_array_equal(state["transposed"], base.reshape(4, 6).T)
    np.testing.assert_array_equal(state["tail"], base[10:16].reshape(2, 3))
    # bfloat16: the upper 16 bits of a float32.
    floats = np.array([1.0, -2.5, 3.140625], np.float32)
    bits = (floats.view(np.uint32) >> 16).astype(np.uint16)
    storage = tw.Storage("0", bits.view(np.int16))
    path = str(tmp_path / "bf16.pth")
    with zipfile.ZipFile(path, "w") as archive:
        pickled = tw.dumps({"w": tw.Tensor(storage, 0, (3,), (1,))}).replace(
            b"torch\nShortStorage", b"torch\nBFloat16Storage")
        archive.writestr("m/data.pkl", pickled)
        archive.writestr("m/data/0", bits.tobytes())
    assert b"BFloat16Storage" in pickled
    np.testing.assert_array_equal(convert.read_state_dict(path)["w"], floats)


def test_state_dict_pth_with_settings_and_numpy_scalars(tmp_path):
    # BigGAN-PyTorch's state_dict.pth: counters, numpy float64 best scores, the settings.
    settings = {"G_ch": 96, "G_attn": "64", "BN_eps": 1e-05, "hier": True, "dataset": "I128",
                "G_shared": True, "which_best": None}
    value = {"itr": 138000, "best_IS": np.float64(98.76), "best_FID": np.float64(8.7),
             "config": settings}
    path = str(tmp_path / "state_dict.pth")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("state_dict/data.pkl", pickle.dumps(value, protocol=2))
    read = torch_files.read(path)
    assert read["config"] == settings and read["itr"] == 138000
    assert isinstance(read["best_IS"], np.float64) and read["best_IS"] == np.float64(98.76)


class _Payload:
    """A class of the file's author (its module is this test file)."""

    def __init__(self, marker):
        self.marker = marker


def _hostile_pickles(marker):
    touch = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    g = tw.global_
    return {
        "os.system": (tw.Reduce(os.system, (touch,)), os.system.__module__ + ".system"),
        "builtins.eval": (tw.Reduce(builtins.eval, (code,)), "builtins.eval"),
        "subprocess.Popen": (tw.Reduce(subprocess.Popen, (["touch", str(marker)],)),
                             "subprocess.Popen"),
        "getattr": (tw.Reduce(builtins.getattr, ("os", "system")), "builtins.getattr"),
        "own class": (_Payload(marker), f"{__name__}._Payload"),
        "never-imported module": (tw.Reduce(g("this", "s"), ()), "this.s"),
        "torch.load": (tw.Reduce(g("torch", "load"), (str(marker),)), "torch.load"),
        "tensor hiding os.system": (
            tw.Reduce(g("torch._utils", "_rebuild_tensor_v2"),
                      (tw.Reduce(os.system, (touch,)), 0, (1,), (1,))), "system"),
        "object dtype": (tw.Reduce(g("numpy", "dtype"), ("O", False, True)),
                         "numpy.dtype('O')"),
    }


@pytest.mark.parametrize("case", list(_hostile_pickles("x")))
def test_hostile_pickles_are_refused_before_anything_runs(tmp_path, case):
    marker = tmp_path / "pwned"
    payload, named = _hostile_pickles(marker)[case]
    data = pickle.dumps(payload, protocol=2) if case == "own class" else tw.dumps(payload)
    path = str(tmp_path / "G_ema.pth")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("G_ema/data.pkl", data)
    modules_before = set(sys.modules)
    with pytest.raises(convert.UnsafePickleError) as error:
        convert.read_state_dict(path)
    assert named in str(error.value)
    assert REFUSED in str(error.value) or "not a numeric dtype" in str(error.value)
    assert not marker.exists()
    assert set(sys.modules) - modules_before == set()  # e.g. `this` was never imported.
    # The same through the by-path converter.
    with pytest.raises(convert.UnsafePickleError):
        convert.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("case", ["STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "BUILD"])
def test_hostile_opcodes_are_refused(tmp_path, case):
    marker = tmp_path / "pwned"
    data = {
        # Protocol 4 names globals with STACK_GLOBAL.
        "STACK_GLOBAL": pickle.dumps(tw.Reduce(builtins.exec, (f"open('{marker}', 'w')",)),
                                     protocol=4),
        # Protocol 0's INST and protocol 1's OBJ build instances of any class.
        "INST": b"(S'touch " + str(marker).encode() + b"'\nios\nsystem\n.",
        "OBJ": b"(cos\nsystem\nS'touch " + str(marker).encode() + b"'\no.",
        "NEWOBJ": pickle.dumps(_Payload(str(marker)), protocol=2).replace(
            f"c{__name__}\n_Payload\n".encode(), b"ccollections\nOrderedDict\n"),
        # BUILD on something other than the state dict (here: a string).
        "BUILD": b"\x80\x02ccollections\nOrderedDict\n)R}bccollections\nOrderedDict\n)RX"
                 b"\x01\x00\x00\x00a}b.",
    }[case]
    with pytest.raises(convert.UnsafePickleError) as error:
        restricted_pickle.loads(data, what="test.pth")
    text = str(error.value)
    expected = {"STACK_GLOBAL": "builtins.exec", "INST": "INST", "OBJ": "os.system",
                "NEWOBJ": "NEWOBJ", "BUILD": "BUILD"}[case]
    assert expected in text and REFUSED in text
    assert not marker.exists()


def test_accepted_globals_are_listed_in_the_refusal():
    with pytest.raises(convert.UnsafePickleError, match=r"Accepted globals: .*collections"
                                                        r"\.OrderedDict.*torch\.FloatStorage"):
        restricted_pickle.loads(pickle.dumps(tw.Reduce(os.system, ("true",)), protocol=2))


def test_truncated_and_corrupt_archives_are_named(tmp_path):
    weights = {"w": np.arange(4096, dtype=np.float32)}
    path = tw.write_zip(str(tmp_path / "G.pth"), weights)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=TRUNCATED):
        convert.read_state_dict(str(cut))
    # A flipped byte inside the storage: the zip CRC check catches it.
    corrupt = bytearray(data)
    corrupt[data.index(weights["w"][100:104].tobytes())] ^= 0xFF
    bad = tmp_path / "bad.pth"
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match=r"Bad CRC-32.*damaged or truncated"):
        convert.read_state_dict(str(bad))
    # Legacy stream cut inside the storage data.
    legacy = tw.write_legacy(str(tmp_path / "legacy.pth"), weights)
    data = open(legacy, "rb").read()
    cut.write_bytes(data[:-100])
    with pytest.raises(ValueError, match="storage '0' needs 4096 elements .* it is truncated"):
        convert.read_state_dict(str(cut))
    # A storage record missing from the archive.
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read("archive/data.pkl")
    missing = str(tmp_path / "missing.pth")
    with zipfile.ZipFile(missing, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
    with pytest.raises(ValueError, match=r"tensor 'w' uses the storage 'archive/data/0', which "
                                         r"the archive does not hold"):
        convert.read_state_dict(missing)
    # A tensor reading beyond its storage.
    storage = tw.Storage("0", np.zeros(6, np.float32))
    past = tw.write_zip(str(tmp_path / "past.pth"),
                        {"w": tw.Tensor(storage, 2, (2, 3), (3, 1))}, [storage])
    with pytest.raises(ValueError, match=r"tensor 'w' .* reads element 7 of a storage holding "
                                         r"6: the file is damaged or truncated"):
        convert.read_state_dict(past)


def test_files_that_are_no_state_dict_are_named(tmp_path):
    gif = tmp_path / "weights.pth"
    gif.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(ValueError, match=r"is not a state dict file: it is a file of 106 bytes "
                                         r"starting with b'GIF89a.*Accepted: a PyTorch"):
        convert.read_state_dict(str(gif))
    with pytest.raises(ValueError, match=UNKNOWN):
        convert.load(str(gif))
    other_zip = str(tmp_path / "other.zip")
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="is not a state dict file"):
        convert.read_state_dict(other_zip)
    not_state_dict = str(tmp_path / "list.pth")
    with zipfile.ZipFile(not_state_dict, "w") as archive:
        archive.writestr("x/data.pkl", pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        convert.read_state_dict(not_state_dict)


def _safetensors():
    try:
        from safetensors import numpy as safetensors_numpy  # pylint: disable=import-outside-toplevel
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("safetensors is an install requirement (setup.cfg) and must be present")
        pytest.skip("safetensors is not installed")
    return safetensors_numpy


def test_npz_and_safetensors_state_dicts(tmp_path):
    arrays = {k: v for k, v in ARRAYS.items() if k != "empty"}
    np.savez(tmp_path / "w.npz", **arrays)
    state = convert.read_state_dict(str(tmp_path / "w.npz"))
    for name, array in arrays.items():
        np.testing.assert_array_equal(state[name], array)
    safetensors_numpy = _safetensors()
    path = str(tmp_path / "w.safetensors")
    safetensors_numpy.save_file(arrays, path)
    assert state_files.file_kind(path) == "safetensors"
    state = convert.read_state_dict(path)
    for name, array in arrays.items():
        np.testing.assert_array_equal(state[name], array)
    data = open(path, "rb").read()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) - 10])
    with pytest.raises(ValueError, match="damaged or truncated"):
        convert.read_state_dict(str(tmp_path / "cut.safetensors"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
