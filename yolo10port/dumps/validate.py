"""A dump's own declarations checked before they are used, so that a broken file is named as the broken one.

Without this a reference whose noise floor is a string, whose `order` is 42 or which holds a uint32 tensor fails
in the middle of the comparison, where the error used to be blamed on the candidate. Torch-free (light install).
"""

from __future__ import annotations

import json
from pathlib import Path

from yolo10port.errors import InputError

DUMP_DTYPES = ("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL")  # what dumps/reader.py reads
KEY_LISTS = ("order",)  # JSON list of keys
KEY_MAPS = ("module_types",)  # JSON map key → class name
FLOOR_MAPS = ("noise_floor", "noise_floor_mean")  # JSON map row → a finite, non-negative number


def _json(path: Path, meta: dict[str, str], entry: str):
    try:
        return json.loads(meta[entry])
    except (json.JSONDecodeError, RecursionError):
        raise InputError(path, f"metadata {entry!r} is not JSON") from None


def check_dump_metadata(path: str | Path, meta: dict[str, str]) -> None:
    """The JSON-valued metadata a comparison reads, of the right shape; InputError naming `path` otherwise."""
    path = Path(path)
    for entry in KEY_LISTS:
        if entry in meta:
            value = _json(path, meta, entry)
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise InputError(path, f"metadata {entry!r} is {_kind(value)}, not a list of keys")
    for entry in KEY_MAPS:
        if entry in meta:
            value = _json(path, meta, entry)
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise InputError(path, f"metadata {entry!r} is {_kind(value)}, not a map of key → class name")
    for entry in FLOOR_MAPS:
        if entry in meta and meta[entry]:
            value = _json(path, meta, entry)
            if not isinstance(value, dict):
                raise InputError(path, f"metadata {entry!r} is {_kind(value)}, not a map of row → number")
            for row, floor in value.items():
                # NaN is a floor a NaN reference legitimately has (the row is then judged by the fixed rule).
                if isinstance(floor, bool) or not isinstance(floor, (int, float)):
                    raise InputError(path, f"metadata {entry!r}: row {row!r} has {floor!r:.40}, not a number")
                if floor < 0:
                    raise InputError(path, f"metadata {entry!r}: row {row!r} has a negative floor {floor!r}")


def check_dump_dtypes(path: str | Path, reader) -> None:
    """Every tensor in a dtype dumps use (a uint32 tensor would fail mid-comparison)."""
    for key in reader.keys():
        code = reader.dtype_code(key)
        if code not in DUMP_DTYPES:
            raise InputError(
                path, f"tensor {key!r} has dtype {code}, which dumps do not use ({', '.join(DUMP_DTYPES)})"
            )


def _kind(value) -> str:
    return f"a JSON {type(value).__name__} ({json.dumps(value)[:30]})"
