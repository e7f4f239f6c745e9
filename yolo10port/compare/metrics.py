"""Per-tensor error figures between a reference and a candidate tensor."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TensorError:
    max_abs: float
    mean_abs: float
    max_rel: float  # max_abs ÷ max|ref|: the error on the layer's own scale
    cosine: float
    ref_max_abs: float
    nonfinite_ref: int
    nonfinite_cand: int


def tensor_error(ref: torch.Tensor, cand: torch.Tensor) -> TensorError:
    ref64, cand64 = ref.double().reshape(-1), cand.double().reshape(-1)
    nonfinite_ref = int((~torch.isfinite(ref64)).sum())
    nonfinite_cand = int((~torch.isfinite(cand64)).sum())
    diff = (cand64 - ref64).abs()
    if diff.numel() == 0:
        return TensorError(0.0, 0.0, 0.0, 1.0, 0.0, 0, 0)
    ref_max = float(ref64.abs().max())
    max_abs = float(diff.max())  # NaN propagates: a NaN anywhere makes the row fail
    if nonfinite_cand or nonfinite_ref:
        max_abs = float("nan")
    norms = float(ref64.norm() * cand64.norm())
    cosine = float(ref64.dot(cand64) / norms) if norms > 0 else (1.0 if max_abs == 0 else 0.0)
    return TensorError(
        max_abs=max_abs,
        mean_abs=float(diff.mean()),
        max_rel=max_abs / ref_max if ref_max > 0 else (0.0 if max_abs == 0 else float("inf")),
        cosine=cosine,
        ref_max_abs=ref_max,
        nonfinite_ref=nonfinite_ref,
        nonfinite_cand=nonfinite_cand,
    )
