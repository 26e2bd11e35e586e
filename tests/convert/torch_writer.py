"""Writes PyTorch files without torch, in the layouts `torch.save` produces, for the tests.

The pickles come from Python's own pure-Python pickler (`pickle._Pickler`), taught to write
the globals torch's pickles name (`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`, …)
as GLOBAL opcodes without importing torch, and to emit storages as persistent ids. So the
streams have the memo, BINPUT/BINGET and framing that real files have.

    write_zip(path, {"linear.weight": array})        # torch >= 1.6 archive
    write_legacy(path, {"linear.weight": array})     # the format before 1.6
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np


class Global:
    """`module.name`, pickled as a GLOBAL opcode (and memoized like any global)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # The pickler only checks that a reduce function is callable.
        raise TypeError(f"{self.module}.{self.name} is a marker and is never called.")


_STORAGE_TYPES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                  np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
                  np.dtype("int32"): "IntStorage", np.dtype("int16"): "ShortStorage",
                  np.dtype("int8"): "CharStorage", np.dtype("uint8"): "ByteStorage",
                  np.dtype("bool"): "BoolStorage"}
_GLOBALS = {}


def global_(module, name):
    """One Global per name, so that repeated uses are memo references as in real files."""
    return _GLOBALS.setdefault((module, name), Global(module, name))


class Storage:
    """A flat storage: its key in the file and its data."""

    def __init__(self, key, data):
        self.key, self.data = key, np.array(data, order="C").reshape(-1)


class Tensor:
    """A tensor on `storage` with an element offset, size and stride (as torch pickles it)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (global_("torch._utils", "_rebuild_tensor_v2"),
                (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                 collections.OrderedDict()))


class Reduce:
    """Pickles as `function(*args)` for any Global: what a hostile file would write."""

    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


class _Pickler(pickle._Pickler):  # pylint: disable=protected-access
    dispatch = dict(pickle._Pickler.dispatch)  # pylint: disable=protected-access

    def __init__(self, file, legacy=False, protocol=2):
        # fix_imports=False: globals keep their Python 3 names (builtins.eval, not
        # __builtin__.eval), as torch's own pickles do.
        super().__init__(file, protocol=protocol, fix_imports=False)
        self.legacy = legacy

    def save_global_marker(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
        self.memoize(obj)

    dispatch[Global] = save_global_marker

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        storage_type = global_("torch", _STORAGE_TYPES[obj.data.dtype])
        if self.legacy:
            return ("storage", storage_type, obj.key, "cpu", obj.data.size, None)
        return ("storage", storage_type, obj.key, "cpu", obj.data.size)


def dumps(value, legacy=False, protocol=2):
    buffer = io.BytesIO()
    _Pickler(buffer, legacy, protocol).dump(value)
    return buffer.getvalue()


def state_dict_objects(arrays):
    """(OrderedDict of Tensor, [Storage]): one contiguous storage per array, like a state dict,
    with the `_metadata` attribute torch state dicts carry."""
    state, storages = collections.OrderedDict(), []
    for index, (name, array) in enumerate(arrays.items()):
        array = np.asarray(array)
        storage = Storage(str(index), array)
        strides = [s // array.itemsize for s in np.array(array, order="C").strides]
        state[name] = Tensor(storage, 0, array.shape, strides)
        storages.append(storage)
    state._metadata = collections.OrderedDict({"": {"version": 1}})  # pylint: disable=protected-access
    return state, storages


def write_zip(path, value, storages=None, prefix="archive", byteorder=True):
    """A torch >= 1.6 zip archive. `value` is a dict of arrays (a state dict) or any object
    built from Tensor / Storage (then pass its `storages`)."""
    if storages is None:
        value, storages = state_dict_objects(value)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", dumps(value))
        if byteorder:
            archive.writestr(f"{prefix}/byteorder", "little")
        for storage in storages:
            archive.writestr(f"{prefix}/data/{storage.key}", storage.data.astype(
                storage.data.dtype.newbyteorder("<")).tobytes())
        archive.writestr(f"{prefix}/version", "3\n")
        archive.writestr(f"{prefix}/.data/serialization_id", "1234567890")
    return path


LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C


def write_legacy(path, value, storages=None):
    """The torch.save stream of PyTorch before 1.6 (`_use_new_zipfile_serialization=False`)."""
    if storages is None:
        value, storages = state_dict_objects(value)
    system = {"protocol_version": 1001, "little_endian": True,
              "type_sizes": {"short": 2, "int": 4, "long": 4}}
    with open(path, "wb") as f:
        f.write(dumps(LEGACY_MAGIC_NUMBER))
        f.write(dumps(1001))
        f.write(dumps(system))
        f.write(dumps(value, legacy=True))
        f.write(dumps([storage.key for storage in storages]))
        for storage in storages:
            f.write(struct.pack("<q", storage.data.size))
            f.write(storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())
    return path
