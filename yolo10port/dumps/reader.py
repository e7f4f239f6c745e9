"""Read a dump one tensor at a time with plain file reads, so comparing two multi-GB dumps stays small in memory.

safetensors' own `safe_open` memory-maps the file: every page a comparison touches stays resident (and counted in
the process's RSS) until the file is closed, so diffing two 2.5 GB depth-all dumps of x peaked at 5.6 GB. Here
the header is validated by safetensors, then each tensor's bytes are read into a fresh buffer and dropped after use.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors import safe_open

from yolo10port.dumps.writer import SAFETENSORS_DTYPES

TORCH_DTYPES = {code: dtype for dtype, code in SAFETENSORS_DTYPES.items()}


class DumpReader:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        with safe_open(str(self.path), "pt") as handle:  # validates the header and that the data covers it
            self.metadata = dict(handle.metadata() or {})
        with open(self.path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(length))
        header.pop("__metadata__", None)
        self._data_start = 8 + length
        self._entries = header
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()

    def keys(self) -> list[str]:
        return list(self._entries)

    def nbytes(self, key: str) -> int:
        start, end = self._entries[key]["data_offsets"]
        return end - start

    def get(self, key: str) -> torch.Tensor:
        entry = self._entries[key]
        dtype = TORCH_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {key} has dtype {entry['dtype']}, which dumps do not use")
        start, end = entry["data_offsets"]
        self._file.seek(self._data_start + start)
        raw = bytearray(end - start)
        self._file.readinto(raw)
        if not raw:
            return torch.empty(entry["shape"], dtype=dtype)
        return torch.frombuffer(raw, dtype=dtype).reshape(entry["shape"])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
