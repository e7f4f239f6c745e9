"""Key names: whatever wrapped the DetectionModel when its state dict was saved, back to ultralytics' names.

ultralytics names a YOLOv10 tensor `model.<layer>.…` (the DetectionModel's `model` Sequential, then the layer).
Saved from elsewhere, the same tensors carry a wrapper's prefix: `model.model.` (the hub mixin's wrapper, or
ultralytics' own `YOLO` object), `module.` (DataParallel / DistributedDataParallel), `_orig_mod.` (torch.compile),
a LightningModule's attribute name, or nothing at all (the Sequential's own state dict: `0.conv.weight`). One
prefix shared by every key is removed, and said; keys that do not share one are an error that says so, so that a
prefix problem is never reported as a shape problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from yolo10port.errors import InputError

T = TypeVar("T")

STEM = "0.conv.weight"  # the first layer's conv: every YOLOv10 state dict, fused or not, has it
_LAYER = re.compile(r"\d+\.")


def _examples(keys: list[str], count: int = 3) -> str:
    return ", ".join(repr(k) for k in keys[:count]) + (", …" if len(keys) > count else "")


def layer_prefix(path: str | Path, keys: list[str]) -> str:
    """The prefix every key shares before the layer index (`model.` in ultralytics' own files)."""
    candidates = sorted(
        {key[: -len(STEM)] for key in keys if key.endswith(STEM) and (key == STEM or key[-len(STEM) - 1] == ".")},
        key=len,
    )
    for prefix in candidates:
        if all(key.startswith(prefix) and _LAYER.match(key, len(prefix)) for key in keys):
            return prefix
    if not candidates:
        raise InputError(
            path,
            f"no YOLOv10 stem tensor (a key ending in 'model.0.conv.weight') among {len(keys)} keys "
            f"({_examples(keys)}): not a YOLOv10 state dict",
        )
    # Every candidate left keys outside it. The outermost candidates (not inside another) are the prefixes
    # actually used; name them, and the keys the likeliest one does not cover.
    outermost = [p for p in candidates if not any(p != q and p.startswith(q) for q in candidates)]
    prefix, others = outermost[0], outermost[1:]
    outside = [key for key in keys if not (key.startswith(prefix) and _LAYER.match(key, len(prefix)))]
    also = f" and {_examples(others, 2)}" if others else ""
    raise InputError(
        path,
        f"keys start with {prefix!r}{also}: {len(outside)} of {len(keys)} keys are outside {prefix!r} "
        f"({_examples(outside)}); a state dict must hold one YOLOv10 under one prefix",
    )


def canonical_keys(path: str | Path, state_dict: Mapping[str, T]) -> tuple[dict[str, T], str | None]:
    """(the state dict under ultralytics' names, the prefix its keys had before the layer index instead of
    'model.': 'model.model.', 'module.model.', '' for the Sequential's own `0.conv.weight`; None for 'model.')."""
    keys = list(state_dict)
    prefix = layer_prefix(path, keys)
    if prefix == "model.":
        return dict(state_dict), None
    return {"model." + key[len(prefix) :]: tensor for key, tensor in state_dict.items()}, prefix


def check_yolov10_keys(path: str | Path, keys: list[str]) -> None:
    """The layer layout of YOLOv10 (model.0 … model.23, one-to-one head at model.23), judged from names alone."""
    layers = sorted({int(key.split(".")[1]) for key in keys})
    last = layers[-1] if layers else -1
    if "model.23.one2one_cv2.0.2.weight" in keys and last == 23:
        return
    if last == 23 and any(key.startswith("model.23.cv2.") for key in keys):
        raise InputError(path, "YOLOv10 head without its one-to-one branch (one2one_cv2); cannot run NMS-free")
    head = f"model.{last}"
    kind = " (a YOLOv8-style Detect head)" if any(key.startswith(f"{head}.cv2.") for key in keys) else ""
    raise InputError(
        path,
        f"not a YOLOv10 model: layers model.0 … {head}, the last without a one-to-one head{kind} "
        "(expected 24 layers ending in v10Detect at model.23)",
    )
