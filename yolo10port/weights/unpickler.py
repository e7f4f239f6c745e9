"""A restricted unpickler for torch zip checkpoints: tensors and plain data out, no code from the file runs.

Every global the pickle names goes through `find_class`. Only a short allow-list resolves, and it resolves to
functions and stand-in classes written here, never to the class the file names: an ultralytics or torch.nn
module (or a loss object a trainer left attached) becomes a `StandIn` that records its attribute dict. Anything
else (`os.system`, `builtins.eval`, `subprocess.Popen`, …) raises `UnsafePickleError` before it could be called,
naming the global and the nearest form that is allowed.

Beyond tensors and modules, the forms torch's own weights-only loader accepts for training metadata: bytes as
protocol 2 writes them (`_codecs.encode(text, 'latin1')`), numpy scalars and dtypes (numpy's `scalar` and
`dtype` reconstructors), and `torch.device` (kept by the THU-MIG fork's loss object). Each is a function of ours
that checks its arguments' types and returns plain data: a numeric numpy value, bytes, a device name string.

The pickle's BUILD opcode (set an object's state) is honoured only on objects this reader reconstructed itself
(stand-ins, OrderedDicts): on anything else, an allowed function among them, it is refused. Tensor views are
checked against their storage (no view larger than its storage, none reaching past it), and storages are read
with the size the pickle declares, so a small file cannot ask for a large allocation (weights/bounds.py).
"""

from __future__ import annotations

import _compat_pickle
import difflib
import pickle
import re
from collections import OrderedDict
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo10port.weights.lazy_torch import is_tensor

if TYPE_CHECKING:
    import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something outside the allow-list."""


def _shown(value: Any, limit: int = 40) -> str:
    """A value as it appears in a refusal: its repr, cut short (a payload can be long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StandIn:
    """Plain-data stand-in for a pickled object whose class the file names (a module, a namespace, a loss)."""

    class_path = "?"

    def __init__(self, *args: Any) -> None:
        # Reached through the REDUCE opcode: a pickle calling the "class" with arguments. Module pickles never do.
        if args:
            raise UnsafePickleError(f"calls {self.class_path} with arguments")
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) from objects with __slots__
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state if isinstance(state, dict) else {"state": state}

    def __repr__(self) -> str:
        return f"<StandIn {self.class_path}>"

    @property
    def class_name(self) -> str:
        return self.class_path.rsplit(".", 1)[-1]


_stand_in_classes: dict[str, type[StandIn]] = {}


def _stand_in_class(path: str) -> type[StandIn]:
    if path not in _stand_in_classes:
        _stand_in_classes[path] = type(path.rsplit(".", 1)[-1], (StandIn,), {"class_path": path})
    return _stand_in_classes[path]


class _StorageType:
    """Marker for `torch.HalfStorage` and friends: only its dtype (torch's attribute name) is used."""

    def __init__(self, dtype_name: str):
        self.dtype_name = dtype_name


# By name, not torch.float16 …: torch is imported when the first storage is read (persistent_load), so a file
# refused before any tensor (most hostile and broken ones) is refused without torch's 3–4 s import.
_STORAGE_DTYPES = {
    "HalfStorage": "float16",
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "UntypedStorage": "uint8",
}

_DTYPE_NAMES = {
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "half",
    "float",
    "double",
    "long",
    "int",
}


def _is_int(value: Any) -> bool:
    return type(value) is int


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_ignored: Any) -> torch.Tensor:
    if not is_tensor(storage):
        raise UnsafePickleError("tensor rebuilt from something that is not a storage")
    if not (
        _is_int(offset)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride) <= 8
        and all(_is_int(n) and n >= 0 for n in size)
        and all(_is_int(n) and n >= 0 for n in stride)
        and offset >= 0
    ):
        raise pickle.UnpicklingError(
            f"tensor with a malformed size {_shown(size)}, stride {_shown(stride)} or offset {_shown(offset)}"
        )
    elements = 1
    for n in size:
        elements *= n
    available = storage.numel()
    # A view never has more elements than its storage: a stride-0 view of one float as 45000×45000 would cost
    # 8 GB the first time it is made contiguous. (Checkpoints store each tensor's own storage; no real one expands.)
    if elements > available:
        raise pickle.UnpicklingError(
            f"tensor of size {_shown(size)} ({elements:,} elements) over a storage of {available:,} elements"
        )
    if elements and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= available:
        raise pickle.UnpicklingError(f"tensor of size {_shown(size)}, stride {_shown(stride)} reaches past its storage")
    return storage.as_strided(size, stride, offset)


def _rebuild_parameter(data: torch.Tensor, *_ignored: Any) -> torch.Tensor:
    if not is_tensor(data):
        raise UnsafePickleError("parameter rebuilt from something that is not a tensor")
    return data


def _path_to_str(*parts: Any) -> str:
    return str(PurePosixPath(*[str(p) for p in parts]))


def _windows_path_to_str(*parts: Any) -> str:
    return str(PureWindowsPath(*[str(p) for p in parts]))


class _NumpyDType(StandIn):
    class_path = "numpy.dtype"

    def __init__(self, code: Any = None, *_flags: Any) -> None:
        # Numeric kinds only (bool, int, uint, float, complex): an object dtype would let bytes become objects.
        if not isinstance(code, str) or not re.fullmatch(r"[<>|=]?[biufc]\d*", code):
            raise UnsafePickleError(f"numpy.dtype with argument {_shown(code)}; only numeric dtypes are allowed")
        self.code = code
        self.state = {}

    def resolve(self) -> np.dtype:
        order = self.state.get("state", ("", "<"))[1] if isinstance(self.state.get("state"), tuple) else "<"
        return np.dtype(self.code).newbyteorder(order if order in "<>|=" else "<")


def _numpy_scalar(dtype: Any, data: Any = b"") -> Any:
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise UnsafePickleError(
            f"calls numpy's scalar reconstructor with {type(dtype).__name__}, {type(data).__name__}; "
            "only (numpy.dtype, bytes) is allowed"
        )
    dtype = dtype.resolve()
    if len(data) != dtype.itemsize:
        raise UnsafePickleError(f"numpy scalar of {len(data)} bytes for dtype {dtype}")
    return np.frombuffer(data, dtype=dtype)[0].item()


class _NumpyArray(StandIn):
    class_path = "numpy.ndarray"

    def __setstate__(self, state: Any) -> None:
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _NumpyDType) or not isinstance(raw, bytes):
            raise UnsafePickleError("numpy array of unexpected form")
        array = np.frombuffer(raw, dtype=dtype.resolve()).reshape(shape, order="F" if fortran else "C")
        self.state = {"array": array}


def _numpy_reconstruct(cls: Any, *_args: Any) -> _NumpyArray:
    if cls is not _NumpyArray:
        raise UnsafePickleError(f"calls numpy's _reconstruct on {_shown(cls, 60)}; only numpy.ndarray is allowed")
    return _NumpyArray()


def _stand_in_getattr(obj: Any, name: str) -> Any:
    # Some ultralytics checkpoints pickle bound methods (`Detect.forward`) through getattr; only those are allowed,
    # and they resolve to an inert marker, never to a real attribute.
    if isinstance(obj, (StandIn, type)) and name in {"forward", "forward_fuse"}:
        return f"<method {name}>"
    raise UnsafePickleError(f"calls builtins.getattr(…, {name!r})")


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if isinstance(cls, type) and issubclass(cls, StandIn) and base is object:
        return cls.__new__(cls)
    raise UnsafePickleError("calls copyreg._reconstructor on a class outside the allow-list")


_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1"}


def _codecs_encode(text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
    """Protocol 2 has no bytes opcode, so pickle writes bytes as `_codecs.encode(str(b, 'latin1'), 'latin1')`.
    Only that exact form is allowed: a str and latin-1, which always gives bytes (rot13 would give a str, and
    binary codecs such as zlib take other objects)."""
    if rest or not isinstance(text, str) or not isinstance(encoding, str) or encoding.lower() not in _LATIN1:
        shown = ", ".join(_shown(a) for a in (text, encoding, *rest))
        raise UnsafePickleError(f"calls _codecs.encode({shown}); only _codecs.encode(str, 'latin1') is allowed")
    return text.encode("latin-1")


_DEVICE = re.compile(r"[a-z][a-z0-9_]*(:\d+)?")


def _torch_device(kind: Any, index: Any = None) -> str:
    """`torch.device('cuda', 0)` as its name, 'cuda:0': a trainer's loss object keeps the device it ran on."""
    if not isinstance(kind, str) or not _DEVICE.fullmatch(kind) or not (index is None or type(index) is int):
        raise UnsafePickleError(f"calls torch.device({_shown(kind)}, {_shown(index)}), which is not a device name")
    return kind if index is None else f"{kind}:{index}"


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "getattr"): _stand_in_getattr,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch", "Size"): tuple,
    ("torch", "device"): _torch_device,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "dtype"): _NumpyDType,
    ("numpy", "ndarray"): _NumpyArray,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
}
for _module in ("pathlib", "pathlib._local"):
    _ALLOWED[(_module, "PosixPath")] = _path_to_str
    _ALLOWED[(_module, "PurePosixPath")] = _path_to_str
    _ALLOWED[(_module, "WindowsPath")] = _windows_path_to_str
    _ALLOWED[(_module, "PureWindowsPath")] = _windows_path_to_str

# Module namespaces whose classes become stand-ins. A stand-in is never called with arguments, so a function
# from these namespaces named in a pickle cannot run either.
_STAND_IN_PREFIXES = ("ultralytics.", "torch.nn.modules.")


def _load_build(self: RestrictedUnpickler) -> None:
    """BUILD (set the state of the object on the stack), only on objects this reader made: a stand-in takes the
    state as plain data; an OrderedDict's attributes (torch's `_metadata` on a state dict) are dropped."""
    state = self.stack.pop()
    target = self.stack[-1]
    if isinstance(target, StandIn):
        target.__setstate__(state)
    elif type(target) is OrderedDict:
        pass
    else:
        raise UnsafePickleError(
            f"sets the state of {_shown(target, 60)}; state is only set on modules and numpy values it rebuilt"
        )


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickler for a torch zip archive's data.pkl; storages are read from the archive by `load_storage`.

    The pure-Python unpickler, so that BUILD can be restricted (`_load_build`); a data.pkl is small (kilobytes).
    `load_storage(key, nbytes)` returns the storage's bytes, `nbytes` being what the pickle declares for it.
    """

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build

    def __init__(self, file: Any, load_storage: Any):
        super().__init__(file)
        self._load_storage = load_storage
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 writes Python 2 spellings (`__builtin__.eval`, `commands.call` for subprocess.call); read them
        # as Python 3 names, as pickle itself and torch's weights-only loader do, so refusals name what was meant.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and name in _DTYPE_NAMES:
            import torch

            return getattr(torch, name)
        if module.startswith(_STAND_IN_PREFIXES) and name.isidentifier():
            return _stand_in_class(f"{module}.{name}")
        nearest = nearest_allowed(module, name)
        raise UnsafePickleError(
            f"references {module}.{name}, which is outside the allowed set (nearest allowed: {nearest})"
        )

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unexpected persistent id {pid!r:.80}")
        import torch  # the first tensor of the file: from here on it is needed

        _, storage_type, key, _location, numel = pid
        if isinstance(storage_type, _StorageType):
            dtype = getattr(torch, storage_type.dtype_name)
        elif isinstance(storage_type, torch.dtype):
            dtype = storage_type
        else:
            raise UnsafePickleError(f"unexpected storage type {storage_type!r:.80}")
        if not (isinstance(key, (str, int)) and _is_int(numel) and numel >= 0):
            raise pickle.UnpicklingError(f"storage {_shown(key)} with a malformed element count {_shown(numel)}")
        key = str(key)
        if key not in self._storages:
            # One tensor per storage, shared by every reference to it: never read or copied twice.
            raw = self._load_storage(key, numel * dtype.itemsize)
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            self._storages[key] = flat
        storage = self._storages[key]
        if storage.dtype != dtype or storage.numel() != numel:
            raise pickle.UnpicklingError(f"storage {key} declared twice, as different sizes or dtypes")
        return storage


_ALLOWED_FORMS = (
    "tensors and storages",
    "torch dtypes and torch.device",
    "numpy scalars, dtypes and arrays",
    "collections.OrderedDict, set, frozenset",
    "pathlib paths",
    "classes of ultralytics.* and torch.nn.modules.* as inert stand-ins",
)


_ALIASES = ("numpy._core.", "pathlib._local.")  # newer spellings of names also allowed under their older ones


def nearest_allowed(module: str, name: str) -> str:
    """What is allowed nearest to a refused global: a near-identical name (a typo, a sibling rebuild function), else
    the allowed names of its module or package, else the allowed forms."""
    typed = {f"torch.{n}" for n in (*_STORAGE_DTYPES, *_DTYPE_NAMES)}
    names = sorted({f"{m}.{n}" for m, n in _ALLOWED} | typed)
    close = difflib.get_close_matches(f"{module}.{name}", names, n=1, cutoff=0.9)
    if close:
        return close[0]
    shown = [n for n in names if n not in typed and not n.startswith(_ALIASES)]
    for scope in (module, module.split(".")[0]):
        related = [n for n in shown if n.startswith(f"{scope}.")]
        if scope == "torch":
            related.append("torch dtypes and storage types")
        if related:
            return ", ".join(related)
    return "; ".join(_ALLOWED_FORMS)
