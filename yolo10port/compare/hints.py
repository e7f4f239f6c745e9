"""Known failure signatures: when a failing diff matches one, the verdict names the likely cause.

- **Reduced precision.** Every layer off by a similar relative error from the first one on: ~1e-3 of the layer's
  scale is TF32 or float16 arithmetic, ~1e-2 bfloat16 (a float32 port is at ~1e-6).
- **Input.** The `input` row fails (its reason says how), or model.0 is far off while the input matches: the
  first conv sees its input differently (channel order, layout, normalisation) or has the wrong stem weights.
- **Accumulated rounding.** Every module passes in isolation while chained error breaches: float32 noise
  amplified with depth, not a wrong module.
"""

from __future__ import annotations

import statistics

from yolo10port.compare.input_check import INPUT_RULE

# Measured (README, "Comparing and tolerances"): TF32/float16 land at 2e-4–6e-3 of a layer's scale, bfloat16 at
# 6e-3–6e-2; a float32 port stays under 1e-4.
PRECISION_BANDS = (
    (2e-4, 6e-3, "TF32 or float16 arithmetic (a float32 port is at ~1e-6): turn TF32 off "
     "(torch.backends.cudnn.allow_tf32 = False) or run in float32; if reduced precision is intended, judge it "
     "with --tol fixed --rtol 1e-2"),
    (6e-3, 6e-2, "bfloat16 arithmetic (a float32 port is at ~1e-6); if intended, judge it with --tol fixed --rtol 1e-1"),
)  # fmt: skip


def _precision(rows) -> str | None:
    numeric = [row for row in rows if row.max_rel is not None and row.rule != INPUT_RULE and row.max_rel == row.max_rel]
    if len(numeric) < 3 or numeric[0].passed:
        return None  # the signature starts at the first layer
    failing = sum(not row.passed for row in numeric)
    if failing < 0.8 * len(numeric):
        return None
    levels = sorted(row.max_rel for row in numeric)
    low, high = levels[len(levels) // 10], levels[-(len(levels) // 10) - 1]
    if low <= 0 or high / low > 100:  # "similar": within two decades over the middle 80 % of rows
        return None
    typical = statistics.median(levels)
    for lower, upper, cause in PRECISION_BANDS:
        if lower <= typical < upper:
            return f"every layer is off by ~{typical:.0e} of its scale from {numeric[0].name} on: {cause}"
    return None


def _input(report) -> str | None:
    rows = {row.name: row for row in report.layers}
    given = rows.get("input")
    if given is not None and not given.passed:
        return f"the candidate was not fed the reference's input ({given.reason}); every later row inherits that"
    first = report.first_failure
    stem = rows.get("model.0")
    if first == "model.0" and stem is not None and stem.max_rel is not None and stem.max_rel > 0.05:
        return (
            "model.0 is far off while the input matches: the stem sees its input differently (channel order RGB, "
            "layout NCHW, scale 0–1) or holds other weights (a transposed or BGR-ordered kernel)"
        )
    return None


def _accumulated(report) -> str | None:
    if report.isolated and report.culprit is None and not report.passed:
        return (
            "every module passes in isolation: the chained error is float32 rounding amplified with depth, "
            "not a wrong module"
        )
    return None


def likely_cause(report) -> str | None:
    if report.passed:
        return None
    return _input(report) or _precision(report.layers) or _accumulated(report)
