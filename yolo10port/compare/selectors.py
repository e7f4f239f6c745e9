"""`--layer` selectors: `0..23` (inclusive range), `3,10,22`, `model.10.attn`, or a comma-separated mix."""

from __future__ import annotations

import re
from collections.abc import Callable

from yolo10port.dumps.keys import TOP_LEVEL_LAYERS, top_level_index
from yolo10port.errors import InputError


def _check_index(text: str, spec: str) -> int:
    if len(text) > 4:  # never a layer; and int() refuses more than 4300 digits with its own ValueError
        raise InputError(
            "--layer", f"layer {text[:12]}… ({len(text)} digits) is out of range 0..{TOP_LEVEL_LAYERS - 1}"
        )
    index = int(text)
    if not 0 <= index < TOP_LEVEL_LAYERS:
        raise InputError("--layer", f"layer {index} in {spec!r} is out of range 0..{TOP_LEVEL_LAYERS - 1}")
    return index


def parse_layers(spec: str | None) -> Callable[[str], bool]:
    """A predicate on dump keys; None or empty selects everything (the input tensor is never compared)."""
    if not spec:
        return lambda key: key != "input"
    indices: set[int] = set()
    paths: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if re.fullmatch(r"\d+", part):
            indices.add(_check_index(part, spec))
        elif re.fullmatch(r"\d+\.\.\d+", part):
            start, end = (_check_index(x, spec) for x in part.split(".."))
            if start > end:
                raise InputError("--layer", f"range {part!r} is empty (start > end)")
            indices.update(range(start, end + 1))
        elif re.fullmatch(r"model(\.\w+)+", part) or part == "detections":
            if part != "detections":
                _check_index(part.split(".")[1], spec) if part.split(".")[1].isdigit() else None
            paths.append(part)
        else:
            raise InputError(
                "--layer", f"cannot parse {part!r}; use 0..23, 3,10,22 or a module path like model.10.attn"
            )

    def selected(key: str) -> bool:
        if key == "input":
            return False
        if top_level_index(key) in indices:
            return True
        return any(key == p or key.startswith((f"{p}.", f"{p}/", f"{p}#")) for p in paths)

    return selected
