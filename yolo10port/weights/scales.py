"""Which YOLOv10 scale a state dict belongs to, judged from tensor shapes alone (no yaml needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# (stem output channels, bottlenecks in model.2) per scale: together they tell the six scales apart.
SCALE_SIGNATURES = {"n": (16, 1), "s": (32, 1), "m": (48, 2), "b": (64, 2), "l": (64, 3), "x": (80, 3)}
SCALES = tuple(SCALE_SIGNATURES)


def scale_from_shapes(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    stem = state_dict.get("model.0.conv.weight")
    if stem is None or stem.ndim != 4:
        return None
    blocks = {key.split(".")[3] for key in state_dict if key.startswith("model.2.m.")}
    signature = (int(stem.shape[0]), len(blocks))
    return next((scale for scale, sig in SCALE_SIGNATURES.items() if sig == signature), None)


def nc_from_shapes(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    cls_out = state_dict.get("model.23.one2one_cv3.0.2.weight")
    return int(cls_out.shape[0]) if cls_out is not None and cls_out.ndim >= 1 else None


def is_fused(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Fused = every Conv's BatchNorm folded into its conv (and so RepVGGDW's 3×3 branch folded into the 7×7)."""
    return not any(".bn." in key for key in state_dict)
