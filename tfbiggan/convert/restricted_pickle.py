"""A pickle reader that constructs only what a PyTorch state dict needs, and nothing else.

PyTorch's `.pth` / `.bin` files hold a pickle (`data.pkl`). Reading one with `pickle` runs
whatever the file's author chose: a pickle names any importable callable (`os.system`,
`builtins.eval`, a class of their own) and asks for it to be called. This module interprets the
pickle opcodes itself (the approach of `torch.load(weights_only=True)`): it never imports a
module named by the file and never calls anything but its own stand-ins for the few globals a
state dict uses:

    collections.OrderedDict                     the state dict itself
    torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter
                                                a tensor: storage, offset, size, stride
    torch.FloatStorage, torch.HalfStorage, ...  storage types, inside persistent ids only
    _codecs.encode (latin-1 only), numpy.dtype (numeric), numpy.core.multiarray.scalar
                                                numbers stored beside the weights (e.g. the
                                                best FID in BigGAN-PyTorch's state_dict.pth)

Any other global, and every opcode that builds arbitrary objects (INST, OBJ, NEWOBJ,
NEWOBJ_EX, EXT*, out-of-band buffers), is refused with `UnsafePickleError` naming it, at the
moment the opcode is read: nothing after it runs and nothing it names is imported.

Example:
  >>> value, end = loads(data, persistent_load=lambda pid: ...)
"""

import collections
import struct

import numpy as np

# Storage type name → NumPy dtype of its elements. BFloat16 has no NumPy dtype: its 16-bit
# patterns are read as uint16 and widened to float32 by `tensor_from_storage`.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_NUMERIC_DTYPE_KINDS = "biuf"


class UnsafePickleError(ValueError):
    """The pickle asks for a global or an opcode that a state dict never needs."""


class StorageType:
    """A `torch.<Name>Storage` global: only ever data inside a persistent id."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    def __repr__(self):
        return f"torch.{self.name}"


class StorageRef:
    """A storage named by a persistent id: its key in the file, element type and element
    count; `view_offset` (elements) for a legacy-format view into the storage `key`."""

    def __init__(self, key, storage_type, numel, view_offset=0):
        if not isinstance(storage_type, StorageType):
            raise ValueError(f"a storage's type must be a torch storage type, got "
                             f"{storage_type!r}.")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise ValueError(f"a storage's element count must be a non-negative int, got "
                             f"{numel!r}.")
        self.key, self.storage_type, self.numel = str(key), storage_type, numel
        self.view_offset = view_offset


class TensorRef:
    """A tensor described by the pickle: its storage (from the persistent id), the element
    offset, size and stride. `tensor_from_storage` turns it into an array."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _StateDict(collections.OrderedDict):
    """The OrderedDict stand-in (accepts the `_metadata` BUILD that state dicts carry)."""


class _DType:
    """A numeric numpy.dtype named by the pickle (byte order set by its BUILD)."""

    def __init__(self, code):
        self.dtype = np.dtype(code)
        if self.dtype.kind not in _NUMERIC_DTYPE_KINDS:
            raise UnsafePickleError(f"the pickle asks for numpy.dtype({code!r}), which is not "
                                    f"a numeric dtype; only numbers are accepted.")

    def set_byte_order(self, order):
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


class _Callable:
    """An accepted global: `module.name` and the stand-in that REDUCE calls."""

    def __init__(self, module, name, function):
        self.module, self.name, self.function = module, name, function

    def __repr__(self):
        return f"{self.module}.{self.name}"


def _ints(value, what):
    if not isinstance(value, tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"tensor {what} must be a tuple of non-negative ints, got {value!r}.")
    return value


def _rebuild_tensor(storage, offset, size, stride, *unused):
    if not isinstance(storage, StorageRef):
        raise ValueError(f"a tensor's storage must come from a persistent id, got "
                         f"{type(storage).__name__}.")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"tensor storage offset must be a non-negative int, got {offset!r}.")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise ValueError(f"tensor size {size} and stride {stride} differ in length.")
    return TensorRef(storage, offset, size, stride)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    del requires_grad, backward_hooks, metadata
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    if not isinstance(data, TensorRef):
        raise ValueError(f"a parameter must wrap a tensor, got {type(data).__name__}.")
    return data


def _ordered_dict(items=()):
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"OrderedDict arguments must be a list of pairs, got "
                         f"{type(items).__name__}.")
    return _StateDict(items)


def _encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode is accepted only for latin-1 text (bytes "
                                f"pickled with protocol 2), got encoding {encoding!r}.")
    return text.encode("latin-1")


def _numpy_dtype(code, align=False, copy=False):
    del align, copy
    if not isinstance(code, str):
        raise UnsafePickleError(f"numpy.dtype is accepted only with a type code, got "
                                f"{type(code).__name__}.")
    return _DType(code)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, _DType) or not isinstance(data, bytes):
        raise UnsafePickleError("numpy scalar is accepted only from a numeric dtype and bytes.")
    if len(data) != dtype.dtype.itemsize:
        raise ValueError(f"a numpy {dtype.dtype} scalar needs {dtype.dtype.itemsize} bytes, "
                         f"got {len(data)}.")
    return np.frombuffer(data, dtype.dtype)[0]


_CALLABLES = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("_codecs", "encode"): _encode,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


def accepted_globals():
    """The `module.name` strings this reader accepts."""
    names = [f"{m}.{n}" for m, n in _CALLABLES] + [f"torch.{n}" for n in STORAGE_DTYPES]
    return sorted(names)


def _find_global(module, name):
    if (module, name) in _CALLABLES:
        return _Callable(module, name, _CALLABLES[(module, name)])
    if module == "torch" and name in STORAGE_DTYPES:
        return StorageType(name)
    raise UnsafePickleError(
        f"the pickle asks for the global {module}.{name}, which a state dict never needs; it "
        f"was refused before anything was imported or constructed. Accepted globals: "
        f"{', '.join(accepted_globals())}.")


_REFUSED_OPCODES = {
    b"i": "INST", b"o": "OBJ", b"\x81": "NEWOBJ", b"\x92": "NEWOBJ_EX", b"\x82": "EXT1",
    b"\x83": "EXT2", b"\x84": "EXT4", b"P": "PERSID (text)", b"\x97": "NEXT_BUFFER",
    b"\x98": "READONLY_BUFFER",
}


class _Reader:
    """The opcode interpreter over `data[offset:]`."""

    def __init__(self, data, offset, persistent_load, what):
        self.data, self.pos = memoryview(data), offset
        self.persistent_load, self.what = persistent_load, what
        self.stack, self.marks, self.memo = [], [], {}

    # Reading the stream ----------------------------------------------------------------------

    def fail(self, message):
        raise ValueError(f"{self.what}: the pickle is damaged or truncated ({message}, at byte "
                         f"{self.pos}).")

    def read(self, count):
        if count < 0 or self.pos + count > len(self.data):
            self.fail(f"needs {count} more bytes, {len(self.data) - self.pos} left")
        chunk = bytes(self.data[self.pos:self.pos + count])
        self.pos += count
        return chunk

    def line(self):
        end = bytes(self.data[self.pos:]).find(b"\n")
        if end < 0:
            self.fail("a text field has no end of line")
        return self.read(end + 1)[:-1]

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    # The stack ---------------------------------------------------------------------------------

    def pop(self):
        if not self.stack:
            self.fail("pops an empty stack")
        return self.stack.pop()

    def pop_mark(self):
        if not self.marks:
            self.fail("no MARK to close")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]  # In place: the handlers hold `self.stack.append`.
        return items

    def top(self):
        if not self.stack:
            self.fail("reads an empty stack")
        return self.stack[-1]

    # Opcodes -----------------------------------------------------------------------------------

    def run(self):
        handlers = self._handlers()
        while True:
            code = self.read(1)
            if code == b".":
                value = self.pop()
                return value, self.pos
            if code in _REFUSED_OPCODES:
                raise UnsafePickleError(
                    f"{self.what}: the pickle uses the opcode {_REFUSED_OPCODES[code]}, which a "
                    f"state dict never needs (it builds arbitrary objects); refused at byte "
                    f"{self.pos - 1}, before anything was constructed.")
            handler = handlers.get(code)
            if handler is None:
                self.fail(f"unknown opcode {code!r}")
            handler()

    def _handlers(self):
        push = self.stack.append
        u = self.unpack
        h = {
            b"(": lambda: self.marks.append(len(self.stack)),
            b"0": self.pop,
            b"1": self.pop_mark,
            b"2": lambda: push(self.top()),
            b"N": lambda: push(None),
            b"\x88": lambda: push(True),
            b"\x89": lambda: push(False),
            b"I": self._int_text,
            b"L": lambda: push(int(self.line().rstrip(b"L"))),
            b"F": lambda: push(float(self.line())),
            b"J": lambda: push(u("<i")),
            b"K": lambda: push(u("<B")),
            b"M": lambda: push(u("<H")),
            b"G": lambda: push(u(">d")),
            b"\x8a": lambda: push(int.from_bytes(self.read(u("<B")), "little", signed=True)),
            b"\x8b": lambda: push(int.from_bytes(self.read(u("<i")), "little", signed=True)),
            b"S": lambda: push(self._quoted(self.line())),
            b"T": lambda: push(self.read(u("<i")).decode("latin-1")),
            b"U": lambda: push(self.read(u("<B")).decode("latin-1")),
            b"V": lambda: push(self.line().decode("raw_unicode_escape")),
            b"X": lambda: push(self._text(u("<I"))),
            b"\x8c": lambda: push(self._text(u("<B"))),
            b"\x8d": lambda: push(self._text(u("<Q"))),
            b"B": lambda: push(self.read(u("<I"))),
            b"C": lambda: push(self.read(u("<B"))),
            b"\x8e": lambda: push(self.read(u("<Q"))),
            b"\x96": lambda: push(bytearray(self.read(u("<Q")))),
            b")": lambda: push(()),
            b"t": lambda: push(tuple(self.pop_mark())),
            b"\x85": lambda: push((self.pop(),)),
            b"\x86": self._tuple2,
            b"\x87": self._tuple3,
            b"]": lambda: push([]),
            b"l": lambda: push(self.pop_mark()),
            b"}": lambda: push({}),
            b"d": lambda: push(self._pairs({}, self.pop_mark())),
            b"\x8f": lambda: push(set()),
            b"\x91": lambda: push(frozenset(self._hashable(self.pop_mark()))),
            b"a": self._append,
            b"e": self._appends,
            b"s": self._setitem,
            b"u": self._setitems,
            b"\x90": self._additems,
            b"p": lambda: self._put(int(self.line())),
            b"q": lambda: self._put(u("<B")),
            b"r": lambda: self._put(u("<I")),
            b"\x94": lambda: self._put(len(self.memo)),
            b"g": lambda: self._get(int(self.line())),
            b"h": lambda: self._get(u("<B")),
            b"j": lambda: self._get(u("<I")),
            b"c": self._global,
            b"\x93": self._stack_global,
            b"R": self._reduce,
            b"b": self._build,
            b"Q": self._persistent_id,
            b"\x80": self._proto,
            b"\x95": lambda: u("<Q"),  # FRAME: a length hint only.
        }
        return h

    def _int_text(self):
        text = self.line()
        self.stack.append(False if text == b"00" else True if text == b"01" else int(text))

    def _quoted(self, text):
        if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b"'", b'"'):
            self.fail("a STRING opcode without quotes")
        return text[1:-1].decode("unicode_escape")

    def _text(self, length):
        try:
            return self.read(length).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            self.fail("text that is not UTF-8")
            return None

    def _tuple2(self):
        b, a = self.pop(), self.pop()
        self.stack.append((a, b))

    def _tuple3(self):
        c, b, a = self.pop(), self.pop(), self.pop()
        self.stack.append((a, b, c))

    def _hashable(self, items):
        for item in items:
            try:
                hash(item)
            except TypeError:
                self.fail(f"an unhashable {type(item).__name__} as a key or set item")
        return items

    def _pairs(self, target, items):
        if len(items) % 2:
            self.fail("an odd number of items for a dict")
        keys = self._hashable(items[0::2])
        for key, value in zip(keys, items[1::2]):
            target[key] = value
        return target

    def _container(self, kinds, what):
        target = self.top()
        if not isinstance(target, kinds):
            self.fail(f"{what} on a {type(target).__name__}")
        return target

    def _append(self):
        value = self.pop()
        self._container(list, "APPEND").append(value)

    def _appends(self):
        items = self.pop_mark()
        self._container(list, "APPENDS").extend(items)

    def _setitem(self):
        value, key = self.pop(), self.pop()
        self._pairs(self._container(dict, "SETITEM"), [key, value])

    def _setitems(self):
        items = self.pop_mark()
        self._pairs(self._container(dict, "SETITEMS"), items)

    def _additems(self):
        items = self._hashable(self.pop_mark())
        self._container(set, "ADDITEMS").update(items)

    def _put(self, index):
        self.memo[index] = self.top()

    def _get(self, index):
        if index not in self.memo:
            self.fail(f"memo entry {index} was never stored")
        self.stack.append(self.memo[index])

    def _global(self):
        module = self.line().decode("utf-8", "replace")
        name = self.line().decode("utf-8", "replace")
        self.stack.append(_find_global(module, name))

    def _stack_global(self):
        name, module = self.pop(), self.pop()
        if not isinstance(module, str) or not isinstance(name, str):
            self.fail("STACK_GLOBAL needs two strings")
        self.stack.append(_find_global(module, name))

    def _reduce(self):
        args, function = self.pop(), self.pop()
        if not isinstance(function, _Callable):
            raise UnsafePickleError(f"{self.what}: the pickle calls {function!r}, which a "
                                    f"state dict never needs: it is not an accepted callable "
                                    f"(byte {self.pos - 1}).")
        if not isinstance(args, tuple):
            self.fail(f"REDUCE arguments must be a tuple, got {type(args).__name__}")
        try:
            self.stack.append(function.function(*args))
        except TypeError as error:
            self.fail(f"{function!r} called with {len(args)} arguments: {error}")

    def _build(self):
        state = self.pop()
        target = self.top()
        if isinstance(target, _StateDict) and isinstance(state, (dict, tuple)):
            return  # The state dict's `_metadata` (module versions): not needed.
        if isinstance(target, _DType) and isinstance(state, tuple) and len(state) > 1:
            target.set_byte_order(state[1])
            return
        raise UnsafePickleError(f"{self.what}: the pickle sets the state of a "
                                f"{type(target).__name__} (BUILD), which a state dict never "
                                f"needs (byte {self.pos - 1}).")

    def _persistent_id(self):
        pid = self.pop()
        if self.persistent_load is None:
            self.fail("a persistent id where none is expected")
        self.stack.append(self.persistent_load(pid))

    def _proto(self):
        version = self.unpack("<B")
        if version > 5:
            self.fail(f"pickle protocol {version} (accepted: 0 to 5)")


def loads(data, offset=0, persistent_load=None, what="pickle"):
    """Interprets one pickle in `data` starting at `offset`.

    Args:
      data: bytes (or a buffer) holding the pickle.
      offset: where it starts.
      persistent_load: called with each persistent id (a tuple) and returns its object; None
        if the pickle may not hold any.
      what: how errors name the pickle (e.g. the file and member).

    Returns:
      (value, end) where `end` is the offset just after the pickle's STOP opcode.

    Raises:
      UnsafePickleError: for a refused global or opcode (nothing it names is imported or run).
      ValueError: for damaged or truncated data.
    """
    return _Reader(data, offset, persistent_load, what).run()


def storage_array(data, storage_type, name, byteorder="little"):
    """The flat array of a storage's raw bytes (`name` names it in errors)."""
    order = {"little": "<", "big": ">"}[byteorder]
    dtype = np.dtype("u2" if storage_type.dtype == "bfloat16" else storage_type.dtype)
    dtype = dtype.newbyteorder(order)
    if len(data) % dtype.itemsize:
        raise ValueError(f"storage {name!r} holds {len(data)} bytes, not a whole number of "
                         f"{dtype.itemsize}-byte {storage_type!r} elements.")
    return np.frombuffer(data, dtype)


def tensor_from_storage(ref, storage, name):
    """The array of `ref` (a TensorRef) read from `storage`, the flat array of its storage's
    root (see `storage_array`), bounds-checked.

    `name` names the tensor in errors. BFloat16 storages (uint16 bit patterns) become
    float32 arrays; other arrays keep their dtype in native byte order.
    """
    size, stride = ref.size, ref.stride
    numel = min(ref.storage.numel, storage.size - ref.storage.view_offset)
    offset = ref.storage.view_offset + ref.offset
    if any(s == 0 for s in size):
        return np.zeros(size, storage.dtype.newbyteorder("="))
    last = ref.offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= numel:
        raise ValueError(f"tensor {name!r} (size {size}, stride {stride}, offset {ref.offset}) "
                         f"reads element {last} of a storage holding {max(numel, 0)}: the file "
                         f"is damaged or truncated.")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[st * storage.itemsize for st in stride],
        writeable=False)
    array = np.array(view, dtype=storage.dtype.newbyteorder("="))
    if ref.storage.storage_type.dtype == "bfloat16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array
