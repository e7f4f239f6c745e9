"""A restricted unpickler for torch zip checkpoints: tensors and plain data out, no code from the file runs.

Every global the pickle names goes through `find_class`. Only a short allow-list resolves, and it resolves to
functions and stand-in classes written here, never to the class the file names: an ultralytics or torch.nn
module becomes a `StandIn` that records its attribute dict. Anything else (`os.system`, `builtins.eval`,
`subprocess.Popen`, …) raises `UnsafePickleError` before it could be called.
"""

from __future__ import annotations

import pickle
import re
from collections import OrderedDict
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something outside the allow-list."""


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
    """Marker for `torch.HalfStorage` and friends: only its dtype is used."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


_STORAGE_DTYPES = {
    "HalfStorage": torch.float16,
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
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


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_ignored: Any) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise UnsafePickleError("tensor rebuilt from something that is not a storage")
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_parameter(data: torch.Tensor, *_ignored: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("parameter rebuilt from something that is not a tensor")
    return data


def _path_to_str(*parts: Any) -> str:
    return str(PurePosixPath(*[str(p) for p in parts]))


def _windows_path_to_str(*parts: Any) -> str:
    return str(PureWindowsPath(*[str(p) for p in parts]))


class _NumpyDType(StandIn):
    class_path = "numpy.dtype"

    def __init__(self, code: Any = None, *_flags: Any) -> None:
        if not isinstance(code, str) or not re.fullmatch(r"[<>|=]?[a-zA-Z]\d*", code):
            raise UnsafePickleError(f"numpy.dtype with argument {code!r}")
        self.code = code
        self.state = {}

    def resolve(self) -> np.dtype:
        order = self.state.get("state", ("", "<"))[1] if isinstance(self.state.get("state"), tuple) else "<"
        return np.dtype(self.code).newbyteorder(order if order in "<>|=" else "<")


def _numpy_scalar(dtype: Any, data: Any = b"") -> Any:
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise UnsafePickleError("numpy scalar of unexpected form")
    return np.frombuffer(data, dtype=dtype.resolve())[0].item()


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
        raise UnsafePickleError("numpy _reconstruct of something other than ndarray")
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


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "getattr"): _stand_in_getattr,
    ("__builtin__", "getattr"): _stand_in_getattr,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("torch", "Size"): tuple,
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


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for a torch zip archive's data.pkl; storages are read from the archive by `load_storage`."""

    def __init__(self, file: Any, load_storage: Any):
        super().__init__(file)
        self._load_storage = load_storage
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and name in _DTYPE_NAMES:
            return getattr(torch, name)
        if module.startswith(_STAND_IN_PREFIXES) and name.isidentifier():
            return _stand_in_class(f"{module}.{name}")
        raise UnsafePickleError(f"references {module}.{name}, which is outside the allowed set")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        if isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        elif isinstance(storage_type, torch.dtype):
            dtype = storage_type
        else:
            raise UnsafePickleError(f"unexpected storage type {storage_type!r:.80}")
        if key not in self._storages:
            raw = self._load_storage(str(key))
            flat = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            if flat.numel() < int(numel):
                raise pickle.UnpicklingError(f"storage {key} holds {flat.numel()} elements, {numel} expected")
            self._storages[key] = flat
        return self._storages[key]
