"""Streaming safetensors writer: tensors go to disk as they are produced, memory holds only their offsets.

The tensor bytes are appended to a scratch file beside the output; `close()` writes the safetensors header
(which must come first and needs every offset), then copies the bytes after it, then renames into place.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np

from yolo10port.atomic import atomic_path, scratch_path, write_error

SAFETENSORS_CODES = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}


def as_bytes(tensor) -> tuple[str, list[int], np.ndarray]:
    """(safetensors dtype code, shape, a little-endian byte view) of a torch tensor or a numpy array, no copy
    where the data is already contiguous on the CPU. torch's bfloat16, which numpy lacks, goes as its raw bits."""
    if not isinstance(tensor, np.ndarray):  # a torch tensor; torch is imported only by the producers that use it
        import torch

        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.dtype == torch.bfloat16:
            return "BF16", list(tensor.shape), tensor.reshape(-1).view(torch.int16).numpy().view(np.uint8)
        tensor = tensor.numpy()
    shape = list(np.shape(tensor))  # before ascontiguousarray, which turns a 0-d array into a 1-d one
    array = np.ascontiguousarray(tensor)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    code = SAFETENSORS_CODES.get(np.dtype(array.dtype.str.lstrip("<>=|")))
    if code is None:
        raise ValueError(f"dtype {array.dtype} cannot be stored in a dump")
    return code, shape, array.reshape(-1).view(np.uint8)


class StreamingSafetensorsWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._scratch = scratch_path(self.path, "data")
        try:
            self._data = open(self._scratch, "wb")  # noqa: SIM115 - closed in close() or abort()
        except OSError as error:
            raise write_error(self.path, error) from None
        except BaseException:  # Ctrl-C just after the file was made: nobody else knows its name yet
            self._scratch.unlink(missing_ok=True)
            raise
        self._entries: dict[str, dict] = {}
        self.order: list[str] = []
        self._offset = 0

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def add(self, key: str, tensor) -> None:
        """Append a torch tensor or numpy array under `key`."""
        if key in self._entries:
            raise ValueError(f"duplicate tensor key {key}")
        code, shape, raw = as_bytes(tensor)  # a view of the tensor's own bytes: no .tobytes() copy
        try:
            self._data.write(raw)
        except OSError as error:
            raise write_error(self.path, error) from None
        self._entries[key] = {
            "dtype": code,
            "shape": shape,
            "data_offsets": [self._offset, self._offset + len(raw)],
        }
        self._offset += len(raw)
        self.order.append(key)

    def read_back(self, key: str) -> np.ndarray:
        """A tensor already added, read back from the scratch file (the noise-floor twin run compares with it)."""
        from yolo10port.dumps.reader import NUMPY_DTYPES, bfloat16_to_float32

        entry = self._entries[key]
        start, end = entry["data_offsets"]
        self._data.flush()
        with open(self._scratch, "rb") as data:
            data.seek(start)
            raw = data.read(end - start)
        code = entry["dtype"]
        flat = bfloat16_to_float32(raw) if code == "BF16" else np.frombuffer(raw, dtype=NUMPY_DTYPES[code])
        return flat.reshape(entry["shape"])

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
