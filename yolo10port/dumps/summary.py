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
        document = {"format": SUMMARY_FORMAT, **{k: metadata[k] for k in keep if k in metadata}, "layers": self.layers}
        return json.dumps(document, indent=1) + "\n"
