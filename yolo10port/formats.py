"""The two safetensors formats this tool writes, told apart by their `format` metadata entry.

Torch-free on purpose: comparing dumps needs only numpy and safetensors (the light install, README).
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.errors import InputError

WEIGHTS_FORMAT = "yolo10port-weights/1"
DUMP_FORMAT = "yolo10port-dump/1"
GOLDEN_FORMAT = "yolo10port-golden/1"  # a golden set's index.json (workflows/golden.py)


def sidecar_paths(out: Path) -> tuple[Path, Path]:
    """The manifest and module tree `export` writes beside OUT.safetensors: OUT.manifest.json, OUT.modules.txt."""
    stem = out.with_suffix("") if out.suffix == ".safetensors" else out
    return stem.with_name(stem.name + ".manifest.json"), stem.with_name(stem.name + ".modules.txt")


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in blocks (what `sha256sum` prints)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """Header metadata of a safetensors file; InputError when the header is not valid safetensors."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InputError(path, f"not a valid safetensors file ({str(error).splitlines()[0]})") from None
