"""PyTorch `.pth` / `.bin` files, read without torch and without running pickled code.

Two layouts exist (`torch.save`):

* the zip archive (PyTorch ≥ 1.6): `PREFIX/data.pkl` (the pickle), `PREFIX/data/KEY` (the raw
  bytes of each storage), `PREFIX/byteorder` ("little" or "big"; little when absent),
  `PREFIX/version`; persistent ids are ("storage", storage type, KEY, location, numel);
* the legacy stream (before 1.6, e.g. the 2019 releases of BigGAN-PyTorch and
  pytorch-pretrained-BigGAN): the pickles of torch's magic number, protocol version 1001 and
  system information, then the object's pickle with persistent ids ("storage", storage type,
  KEY, location, numel, view), then a pickle of the storage keys in data order, then for each
  storage an int64 element count and its raw bytes.

Pickles are read by `restricted_pickle`, which constructs only what a state dict needs.

Example:
  >>> state = read_state_dict("G_ema.pth")      # {name: np.ndarray}
"""

import os
import struct
import tarfile
import zipfile
import zlib

import numpy as np

from tfbiggan.convert import restricted_pickle as rp

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError)


def _persistent_id(pid, length, path):
    if not isinstance(pid, tuple) or len(pid) != length or pid[0] != "storage":
        raise ValueError(f"{path}: a persistent id must be a ('storage', ...) tuple of "
                         f"{length} items, got {pid!r:.200}.")
    return pid


def _zip_member(names, path):
    pickles = [name for name in names if name == "data.pkl" or name.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise ValueError(f"{path} is a zip file but not a PyTorch archive: it must hold one "
                         f"data.pkl, found {len(pickles)} among {sorted(names)[:10]}.")
    return pickles[0], pickles[0][:-len("data.pkl")]


def _read_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            member, prefix = _zip_member(names, path)
            byteorder = "little"
            if prefix + "byteorder" in names:
                byteorder = archive.read(prefix + "byteorder").decode("ascii").strip()
                if byteorder not in ("little", "big"):
                    raise ValueError(f"{path}: byteorder record {byteorder!r} is neither "
                                     f"'little' nor 'big'.")

            def persistent_load(pid):
                _, storage_type, key, _, numel = _persistent_id(pid, 5, path)
                return rp.StorageRef(key, storage_type, numel)

            value, _ = rp.loads(archive.read(member), persistent_load=persistent_load,
                                what=f"{path} ({member})")
            cache = {}

            def array_of(ref, name):
                key = ref.storage.key
                if key not in cache:
                    record = f"{prefix}data/{key}"
                    if record not in names:
                        raise ValueError(f"{path}: tensor {name!r} uses the storage {record!r}, "
                                         f"which the archive does not hold (truncated?).")
                    cache[key] = rp.storage_array(archive.read(record),
                                                  ref.storage.storage_type, record, byteorder)
                return rp.tensor_from_storage(ref, cache[key], name)

            return _materialize(value, array_of)
    except _READ_ERRORS as error:
        raise ValueError(f"cannot read {path} as a PyTorch zip archive: "
                         f"{type(error).__name__}: {error}. The file is damaged or truncated "
                         f"(an incomplete download?).") from error


def _read_legacy(path):
    with open(path, "rb") as f:
        data = f.read()
    what = str(path)
    magic, position = rp.loads(data, 0, what=what)
    if magic != LEGACY_MAGIC_NUMBER:
        raise ValueError(f"{path} is a pickle but not a PyTorch file (its first value is "
                         f"{magic!r:.80}, not torch's magic number).")
    protocol, position = rp.loads(data, position, what=what)
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise ValueError(f"{path}: PyTorch legacy protocol {protocol!r} is not supported "
                         f"(accepted: {LEGACY_PROTOCOL_VERSION}).")
    system, position = rp.loads(data, position, what=what)
    little = bool(system.get("little_endian", True)) if isinstance(system, dict) else True
    roots = {}

    def persistent_load(pid):
        _, storage_type, key, _, numel, view = _persistent_id(pid, 6, path)
        root = roots.setdefault(str(key), rp.StorageRef(key, storage_type, numel))
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise ValueError(f"{path}: a storage view must be (key, offset, size), got "
                             f"{view!r:.100}.")
        _, offset, size = view
        view_ref = rp.StorageRef(key, storage_type, size, view_offset=offset)
        return view_ref

    value, position = rp.loads(data, position, persistent_load, what=what)
    keys, position = rp.loads(data, position, what=what)
    if not isinstance(keys, list):
        raise ValueError(f"{path}: the storage key list is a {type(keys).__name__}.")
    arrays = {}
    order = "<" if little else ">"
    for key in keys:
        key = str(key)
        if key not in roots:
            raise ValueError(f"{path}: storage {key!r} has data but no tensor uses it.")
        if position + 8 > len(data):
            raise ValueError(f"{path}: the data of storage {key!r} is missing: the file is "
                             f"truncated at byte {len(data)}.")
        numel = struct.unpack(order + "q", data[position:position + 8])[0]
        storage_type = roots[key].storage_type
        itemsize = 2 if storage_type.dtype == "bfloat16" else np.dtype(
            storage_type.dtype).itemsize
        end = position + 8 + numel * itemsize
        if numel < 0 or end > len(data):
            raise ValueError(f"{path}: storage {key!r} needs {numel} elements ({end} bytes in "
                             f"all) but the file ends at byte {len(data)}: it is truncated.")
        arrays[key] = rp.storage_array(data[position + 8:end], storage_type, key,
                                       "little" if little else "big")
        position = end

    def array_of(ref, name):
        if ref.storage.key not in arrays:
            raise ValueError(f"{path}: tensor {name!r} uses storage {ref.storage.key!r}, "
                             f"whose data the file does not hold.")
        return rp.tensor_from_storage(ref, arrays[ref.storage.key], name)

    return _materialize(value, array_of)


def _materialize(value, array_of, name=""):
    """`value` with every TensorRef replaced by its array (`name`: the path, for errors)."""
    if isinstance(value, rp.TensorRef):
        return array_of(value, name)
    if isinstance(value, dict):
        return {key: _materialize(item, array_of, f"{name}.{key}" if name else str(key))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_materialize(item, array_of, f"{name}[{index}]")
                           for index, item in enumerate(value))
    if isinstance(value, (rp.StorageRef, rp.StorageType)):
        raise ValueError(f"{name or 'the file'} holds a bare storage, not a tensor.")
    return value


def file_kind(path):
    """'zip' (torch ≥ 1.6 archive), 'legacy' (older torch.save stream) or None."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as archive:
                _zip_member(archive.namelist(), path)
            return "zip"
        except (ValueError, zipfile.BadZipFile):
            return None
    if head[:1] == b"\x80":
        try:
            with open(path, "rb") as f:
                magic, _ = rp.loads(f.read(64), what=str(path))
            return "legacy" if magic == LEGACY_MAGIC_NUMBER else None
        except ValueError:
            return None
    return None


def read(path):
    """The object a PyTorch file holds, with NumPy arrays in place of its tensors.

    Args:
      path: a `.pth` / `.bin` / `.pt` file written by `torch.save`.

    Raises:
      restricted_pickle.UnsafePickleError: the pickle asks for anything a state dict does
        not need (named in the message; nothing was run).
      ValueError: not a PyTorch file, or damaged / truncated.

    Example:
      >>> settings = read("state_dict.pth")["config"]
    """
    path = os.fspath(path)
    kind = file_kind(path)
    if kind == "zip":
        return _read_zip(path)
    if kind == "legacy":
        return _read_legacy(path)
    if tarfile.is_tarfile(path):
        raise ValueError(f"{path} is a tar archive: the tar format of PyTorch before 0.4 is not "
                         f"supported; re-save it with a newer torch.")
    with open(path, "rb") as f:
        head = f.read(8)
    raise ValueError(f"{path} is not a PyTorch file (it starts with {head!r}; a torch.save "
                     f"zip archive starts with {ZIP_MAGIC!r}, the legacy format with "
                     f"b'\\x80' and torch's magic number).")


def read_state_dict(path):
    """{name: array} of a PyTorch file holding a state dict (`torch.save(model.state_dict())`).

    Example:
      >>> weights = read_state_dict("pytorch_model.bin")
    """
    value = read(path)
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a {type(value).__name__}, not a state dict.")
    others = sorted(str(key) for key, item in value.items()
                    if not isinstance(key, str) or not isinstance(item, np.ndarray))
    if others:
        raise ValueError(f"{path} is not a state dict of tensors: the entries {others[:10]} "
                         f"are not tensors.")
    return dict(value)
