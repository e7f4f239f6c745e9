"""Weights: safe reading of checkpoints and export to safetensors."""

from __future__ import annotations

from typing import Any

__all__ = ["Weights", "read_weights"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing a light submodule (weights.hf, weights.keys) does not import the reader: the CLI
    # checks a path before it reads anything.
    if name in __all__:
        from yolo10port.weights import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
