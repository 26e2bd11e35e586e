"""State dicts from files, by content: PyTorch archives, `.npz` and `.safetensors`.

Nothing is unpickled: `.npz` files are read with `allow_pickle=False`, PyTorch files by the
restricted reader of `torch_files`, `.safetensors` by the safetensors package (a JSON header
and raw little-endian tensors, no code).

Example:
  >>> state = read_state_dict("G_ema.safetensors")       # {name: np.ndarray}
"""

import json
import os
import struct
import zipfile

import numpy as np

from tfbiggan.convert import torch_files

_SAFETENSORS_MAX_HEADER = 100 * 2 ** 20


def file_kind(path):
    """'torch_zip', 'torch_legacy', 'npz', 'safetensors' or None (something else)."""
    kind = torch_files.file_kind(path)
    if kind:
        return "torch_" + kind
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == torch_files.ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        if names and all(name.endswith(".npy") for name in names):
            return "npz"
        return None
    if len(head) == 9:
        size = struct.unpack("<Q", head[:8])[0]
        if 0 < size <= _SAFETENSORS_MAX_HEADER and head[8:9] == b"{":
            return "safetensors"
    return None


def describe(path):
    """A short description of what a file looks like, for error messages."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
    return f"a file of {size} bytes starting with {head!r}"


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except ValueError as error:
        raise ValueError(f"cannot read {path}: {error} (object arrays would need "
                         f"allow_pickle, which is never used).") from error
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"cannot read {path} as .npz: {type(error).__name__}: {error}. The "
                         f"file is damaged or truncated.") from error


def _read_safetensors(path):
    try:
        from safetensors import numpy as safetensors_numpy  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise ImportError("reading .safetensors files needs the safetensors package "
                          "(pip install safetensors).") from error
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        try:
            header = json.loads(f.read(size))
        except ValueError as error:
            raise ValueError(f"cannot read {path} as .safetensors: its {size}-byte JSON header "
                             f"is damaged or truncated ({error}).") from error
    bfloat16 = sorted(name for name, info in header.items()
                      if isinstance(info, dict) and info.get("dtype") == "BF16")
    if bfloat16:
        raise ValueError(f"{path} holds bfloat16 tensors {bfloat16[:5]}, which NumPy cannot "
                         f"represent; save them as float32 or float16.")
    try:
        return dict(safetensors_numpy.load_file(path))
    except Exception as error:  # safetensors raises its own SafetensorError.
        raise ValueError(f"cannot read {path} as .safetensors: {type(error).__name__}: "
                         f"{error}. The file is damaged or truncated.") from error


def read_state_dict(path):
    """{name: array} from a PyTorch file, an `.npz` or a `.safetensors` file.

    Args:
      path: the file; its format is recognised by its content, not its name.

    Raises:
      ValueError: the file is none of these formats (the message says what it looks like),
        or it is damaged, truncated or holds something other than a flat state dict.
      restricted_pickle.UnsafePickleError: a PyTorch file whose pickle asks for anything a
        state dict does not need.

    Example:
      >>> state = read_state_dict("D.pth")
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"state dict file {path!r} does not exist.")
    kind = file_kind(path)
    if kind in ("torch_zip", "torch_legacy"):
        return torch_files.read_state_dict(path)
    if kind == "npz":
        return _read_npz(path)
    if kind == "safetensors":
        return _read_safetensors(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head == torch_files.ZIP_MAGIC:
        try:
            zipfile.ZipFile(path).close()
        except zipfile.BadZipFile as error:
            raise ValueError(f"{path} starts like a zip archive (a PyTorch .pth/.bin or an "
                             f".npz) but cannot be opened: BadZipFile: {error}. The file is "
                             f"damaged or truncated (an incomplete download?).") from error
    raise ValueError(f"{path} is not a state dict file: it is {describe(path)}. Accepted: a "
                     f"PyTorch .pth/.bin (zip or legacy torch.save format), .npz or "
                     f".safetensors.")
