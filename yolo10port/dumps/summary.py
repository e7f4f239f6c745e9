"""Golden summaries: per-key statistics of a dump, small enough to commit (reference_dumps/*.summary.json)."""

from __future__ import annotations

import hashlib
import json

import torch

SUMMARY_FORMAT = "yolo10port-summary/1"


def tensor_stats(tensor: torch.Tensor) -> dict:
    t = tensor.detach().to("cpu").contiguous()
    as64 = t.double()
    finite = as64[torch.isfinite(as64)]
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype).removeprefix("torch."),
        "mean": float(finite.mean()) if finite.numel() else None,
        "std": float(finite.std(unbiased=False)) if finite.numel() else None,
        "max_abs": float(finite.abs().max()) if finite.numel() else None,
        "sha256": hashlib.sha256(t.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest(),
    }


class SummaryBuilder:
    def __init__(self) -> None:
        self.layers: dict[str, dict] = {}

    def add(self, key: str, tensor: torch.Tensor) -> None:
        self.layers[key] = tensor_stats(tensor)

    def to_json(self, metadata: dict[str, str]) -> str:
        keep = ("producer", "input", "dtype", "head", "weights_sha256", "scale", "nc", "fused")
        header = {"format": SUMMARY_FORMAT, **{k: metadata[k] for k in keep if k in metadata}}
        # One line per layer, so that `git diff` of a regenerated summary shows which layers moved.
        lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in self.layers.items()]
        head = json.dumps(header, indent=1)[:-2]
        return head + ',\n "layers": {\n' + ",\n".join(lines) + "\n }\n}\n"


# A drift of ultralytics' numerics (an eps, an activation, a head change) moves these statistics by far more than
# this; a different CPU's last-bit differences in the fixture's BN calibration move them by far less (measured in
# the README's "Golden summaries" section).
SUMMARY_RTOL = 1e-3


def compare_summaries(expected: dict, actual: dict, rtol: float = SUMMARY_RTOL) -> list[str]:
    """Differences between two summaries, one line each; empty when they agree within `rtol` × the layer's max-abs.

    Shapes and the key set must match exactly; mean, std and max-abs within tolerance. sha256 is not compared:
    bit-identity across machines is not promised, statistical identity is.
    """
    problems = []
    want, have = expected["layers"], actual["layers"]
    for key in want.keys() - have.keys():
        problems.append(f"{key}: missing now")
    for key in have.keys() - want.keys():
        problems.append(f"{key}: new key")
    # `detections` is listed but not compared: on a flat input (all-ones) many anchors tie exactly, and which of
    # the tied anchors top-k keeps is not stable between runs, so box statistics move; `model.23` (every anchor's
    # decoded box and score, before top-k) carries the head's numerics instead.
    for key in [k for k in want if k in have and k != "detections"]:
        old, new = want[key], have[key]
        if old["shape"] != new["shape"]:
            problems.append(f"{key}: shape {old['shape']} → {new['shape']}")
            continue
        scale = max(abs(old["max_abs"] or 0.0), 1e-12)
        for stat in ("mean", "std", "max_abs"):
            if old[stat] is None or new[stat] is None:
                if old[stat] != new[stat]:
                    problems.append(f"{key}: {stat} {old[stat]} → {new[stat]}")
            elif abs(old[stat] - new[stat]) > rtol * scale:
                problems.append(f"{key}: {stat} {old[stat]:.6g} → {new[stat]:.6g} (limit ±{rtol * scale:.3g})")
    return problems
