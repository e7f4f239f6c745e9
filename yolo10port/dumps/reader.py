"""Read a dump one tensor at a time, as numpy arrays, with plain file reads: bounded memory, and no torch.

safetensors' own `safe_open` memory-maps the file: every page a comparison touches stays resident (and counted in
the process's RSS) until the file is closed, so diffing two 2.5 GB depth-all dumps of x peaked at 5.6 GB. Here
the header is validated by safetensors, then each tensor's bytes are read into a fresh buffer and dropped after use.
Comparing needs numpy and safetensors only, so that a port's CI can run `diff` without torch (README, light install).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT, WEIGHTS_FORMAT, safetensors_metadata

NUMPY_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def bfloat16_to_float32(raw: bytes | bytearray) -> np.ndarray:
    """numpy has no bfloat16: its 16 bits are the top half of a float32, so widen them exactly."""
    return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)


def read_dump_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a dump; InputError (exit 2) when the file is missing or not a `yolo10port-dump/1` file."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a dump")
    meta = safetensors_metadata(path)
    kind = meta.get("format")
    if kind == WEIGHTS_FORMAT:
        raise InputError(path, "is a weights export, not a dump (make one with `yolo10port dump` or `run`)")
    if kind is None:
        raise InputError(path, f"safetensors file without a 'format' metadata entry; a dump has format={DUMP_FORMAT}")
    if kind != DUMP_FORMAT:
        raise InputError(path, f"metadata format is {kind!r}, expected {DUMP_FORMAT!r}")
    return meta


class DumpReader:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.metadata = safetensors_metadata(self.path)  # validates the header and that the data covers it
        with open(self.path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(length))
        header.pop("__metadata__", None)
        self._data_start = 8 + length
        self._entries = header
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()

    def keys(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._entries[key]["shape"])

    def dtype_code(self, key: str) -> str:
        return self._entries[key]["dtype"]

    def nbytes(self, key: str) -> int:
        start, end = self._entries[key]["data_offsets"]
        return end - start

    def get(self, key: str) -> np.ndarray:
        """The tensor as a numpy array (bfloat16 widened to float32, exactly)."""
        entry = self._entries[key]
        code = entry["dtype"]
        if code not in NUMPY_DTYPES and code != "BF16":
            raise ValueError(f"tensor {key} has dtype {code}, which dumps do not use")
        start, end = entry["data_offsets"]
        self._file.seek(self._data_start + start)
        raw = bytearray(end - start)
        self._file.readinto(raw)
        flat = bfloat16_to_float32(raw) if code == "BF16" else np.frombuffer(raw, dtype=NUMPY_DTYPES[code])
        return flat.reshape(entry["shape"])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
