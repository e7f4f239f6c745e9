"""`--tol auto`: a per-layer tolerance from the float64 noise floor instead of one fixed atol/rtol.

The float64 reference is taken as ground truth. Per layer, e_ref = max|ref32 − ref64|: how far float32 arithmetic
alone moves the real network. A float32 port is honest when its own error against float64 is of that size, so the
candidate passes iff  max|cand − ref64| ≤ K · max(e_ref, EPS · max|ref64|).  EPS keeps a floor where float32 happens
to be exact. The last column of the report ("needs k") is the candidate's error in units of that floor: the K a
float16 or bfloat16 port would need at that layer.
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.compare.engine import Report, diff_dumps
from yolo10port.compare.tolerances import Tolerances

# Measured (README, "Tolerance from the float64 noise floor"): against float64 the unfused clean model is exactly
# e_ref (it is bit-identical to the float32 reference), the fused one at most 3.6 × e_ref on the six fixtures.
# K = 10 leaves a 2.8× margin above that; every planted bug in `selftest` is far beyond it.
K = 10.0
EPS = 1e-7  # ≈ float32 machine epsilon (1.19e-7): a floor of one rounding of the layer's largest value


def noise_floor_report(
    ref64: str | Path,
    ref32: str | Path,
    candidate: str | Path,
    layers: str | None = None,
    k: float = K,
    eps: float = EPS,
    base: Tolerances | None = None,
) -> Report:
    """The candidate against float64, each row's limit set from the float32 reference's own error."""
    exact = Tolerances(atol=0.0, rtol=0.0, match_iou=(base or Tolerances()).match_iou)
    floor = {row.name: row for row in diff_dumps(ref64, ref32, layers, exact).layers}
    report = diff_dumps(ref64, candidate, layers, base)
    report.tolerance = {**report.tolerance, "mode": "auto", "k": k, "eps": eps}
    for row in report.layers:
        ref_row = floor.get(row.name)
        if row.max_abs is None or ref_row is None or ref_row.max_abs is None:
            continue
        unit = max(ref_row.max_abs, eps * (row.ref_max_abs or 0.0))
        row.noise_floor = ref_row.max_abs
        row.atol, row.rtol = k * unit, 0.0
        row.needs_k = row.max_abs / unit if unit > 0 else (0.0 if row.max_abs == 0 else float("inf"))
        row.passed = row.reason == "" and row.max_abs <= row.limit
    return report
