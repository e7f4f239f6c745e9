"""Streaming safetensors writer: tensors go to disk as they are produced, memory holds only their offsets.

The tensor bytes are appended to a scratch file beside the output; `close()` writes the safetensors header
(which must come first and needs every offset), then copies the bytes after it, then renames into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
from pathlib import Path

import torch

from yolo10port.atomic import atomic_path, write_error

SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


class StreamingSafetensorsWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.data.partial")
        try:
            self._data = open(self._scratch, "wb")  # noqa: SIM115 - closed in close() or abort()
        except OSError as error:
            raise write_error(self.path, error) from None
        self._entries: dict[str, dict] = {}
        self.order: list[str] = []
        self._offset = 0

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def add(self, key: str, tensor: torch.Tensor) -> None:
        if key in self._entries:
            raise ValueError(f"duplicate tensor key {key}")
        tensor = tensor.detach().to("cpu").contiguous()
        # A view of the tensor's own bytes: written without the copy that .tobytes() would make.
        raw = tensor.reshape(-1).view(torch.uint8).numpy() if tensor.numel() else b""
        try:
            self._data.write(raw)
        except OSError as error:
            raise write_error(self.path, error) from None
        self._entries[key] = {
            "dtype": SAFETENSORS_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [self._offset, self._offset + len(raw)],
        }
        self._offset += len(raw)
        self.order.append(key)

    def close(self, metadata: dict[str, str]) -> Path:
        try:
            self._data.close()
            header = {"__metadata__": dict(metadata), **self._entries}
            encoded = json.dumps(header, separators=(",", ":")).encode()
            encoded += b" " * (-len(encoded) % 8)  # keep the tensor data 8-byte aligned
            with atomic_path(self.path) as tmp, open(tmp, "wb") as out, open(self._scratch, "rb") as data:
                out.write(struct.pack("<Q", len(encoded)))
                out.write(encoded)
                shutil.copyfileobj(data, out, 1 << 22)
        except OSError as error:
            raise write_error(self.path, error) from None
        finally:
            self._scratch.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # flushing the buffer fails again when the disk is full
            self._data.close()
        self._scratch.unlink(missing_ok=True)
