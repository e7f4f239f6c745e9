"""Per-tensor error figures between a reference and a candidate tensor (numpy, float64 arithmetic)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class TensorError:
    max_abs: float
    mean_abs: float
    max_rel: float  # max_abs ÷ max|ref|: the error on the tensor's own scale
    cosine: float
    pcc: float  # Pearson correlation: the cosine of the mean-removed tensors (1 = same up to scale and offset)
    ref_max_abs: float
    ref_mean_abs: float
    nonfinite_ref: int
    nonfinite_cand: int
    sqnr: float = math.inf  # dB: 10·log10(Σ ref² ÷ Σ (cand − ref)²), the quantized rows' measure (∞ when exact)


def sqnr_db(ref64: np.ndarray, diff_energy: float) -> float:
    """Signal-to-quantization-noise ratio in dB, as ONNX Runtime's qdq_loss_debug computes it."""
    if diff_energy == 0:
        return math.inf
    signal = float((ref64**2).sum())
    return 10 * math.log10(signal / diff_energy) if signal > 0 else -math.inf


def _correlation(a: np.ndarray, b: np.ndarray, identical: bool) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms > 0:
        return float(np.dot(a, b) / norms)
    return 1.0 if identical else 0.0  # both constant and equal (e.g. zeros): perfectly alike


def tensor_error(ref: np.ndarray, cand: np.ndarray) -> TensorError:
    ref64 = np.asarray(ref, dtype=np.float64).reshape(-1)
    cand64 = np.asarray(cand, dtype=np.float64).reshape(-1)
    nonfinite_ref = int((~np.isfinite(ref64)).sum())
    nonfinite_cand = int((~np.isfinite(cand64)).sum())
    if ref64.size == 0:
        return TensorError(0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0, 0)
    if nonfinite_ref or nonfinite_cand:  # a NaN anywhere makes the row fail; the figures are meaningless
        nan = float("nan")
        magnitude = np.abs(ref64)
        return TensorError(
            nan, nan, nan, nan, nan, float(np.nanmax(magnitude)), float(np.nanmean(magnitude)), nonfinite_ref,
            nonfinite_cand, nan,
        )  # fmt: skip
    diff = np.abs(cand64 - ref64)
    sqnr = sqnr_db(ref64, float((diff**2).sum()))
    ref_max = float(np.abs(ref64).max())
    max_abs = float(diff.max())
    identical = max_abs == 0.0
    return TensorError(
        max_abs=max_abs,
        mean_abs=float(diff.mean()),
        max_rel=max_abs / ref_max if ref_max > 0 else (0.0 if identical else math.inf),
        cosine=_correlation(ref64, cand64, identical),
        pcc=_correlation(ref64 - ref64.mean(), cand64 - cand64.mean(), identical),
        ref_max_abs=ref_max,
        ref_mean_abs=float(np.abs(ref64).mean()),
        nonfinite_ref=nonfinite_ref,
        nonfinite_cand=nonfinite_cand,
        sqnr=sqnr,
    )
