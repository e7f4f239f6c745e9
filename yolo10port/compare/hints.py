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

from yolo10port.compare.input_check import INPUT_RULE, REDUCED_PRECISION

# The relative error a candidate shows at its first layers when it computes in reduced precision (README, "Comparing
# and tolerances"): TF32 (10-bit mantissa) and float16 (11 bits) ~5e-4–2e-3, bfloat16 (8 bits) ~4e-3–3e-2;
# a float32 port stays near 1e-6. Deeper layers grow from there.
TF32_BAND = (1e-4, 4e-3)
BFLOAT16_BAND = (4e-3, 5e-2)


def _computes_in(meta: dict) -> str | None:
    """What the candidate's own metadata says about its arithmetic: a reduced precision, float32, or nothing."""
    dtype = meta.get("dtype")
    if dtype in ("float16", "bfloat16"):
        return dtype
    if meta.get("tf32_conv") == "true" or meta.get("tf32_matmul") == "true":
        return "TF32"
    ours = meta.get("producer", "").startswith(("yolo10port", "onnxruntime", "openvino"))
    if dtype in ("float32", "float64") and ours:  # our producers record TF32 when it is on; others may not
        return dtype
    return None


def _precision(report) -> str | None:
    if report.tolerance.get("precision", "float32") != "float32":
        return None  # already judged by its own precision's floor: what fails is not that precision's rounding
    numeric = [r for r in report.layers if r.rule != INPUT_RULE and r.max_rel is not None and r.max_rel == r.max_rel]
    if len(numeric) < 3 or numeric[0].passed or sum(not r.passed for r in numeric) < 0.8 * len(numeric):
        return None  # the signature: failing from the first layer on, nearly everywhere
    level = statistics.median(r.max_rel for r in numeric[:3])
    first = numeric[0].name
    arithmetic = _computes_in(report.candidate_meta)
    if arithmetic in ("float16", "bfloat16", "TF32"):
        return (
            f"the candidate computes in {arithmetic}: every layer is off by ~{level:.0e} of its scale from {first} on, "
            f"which is what {arithmetic} costs (a float32 port is at ~1e-6); judge it by what {arithmetic} costs: "
            f"--precision {arithmetic.lower()}, against a reference dumped with --floors {arithmetic.lower()}"
        )
    if TF32_BAND[0] <= level < TF32_BAND[1]:
        cause = (
            "TF32 or float16 arithmetic (on CUDA, torch allows TF32 for convolutions by default); if intended, "
            "judge it with --precision tf32 or --precision float16"
        )
    elif BFLOAT16_BAND[0] <= level < BFLOAT16_BAND[1]:
        cause = "bfloat16 arithmetic; if intended, judge it with --precision bfloat16"
    else:
        return None
    if arithmetic in ("float32", "float64"):
        return (
            f"every layer is off by ~{level:.0e} of its scale from {first} on, in a {arithmetic} candidate: not "
            "rounding; look for a difference that starts at the stem (BatchNorm eps, activation, input scaling)"
        )
    return f"every layer is off by ~{level:.0e} of its scale from {first} on: the signature of {cause}"


def _input(report) -> str | None:
    rows = {row.name: row for row in report.layers}
    given = rows.get("input")
    if given is not None and not given.passed and REDUCED_PRECISION not in given.reason:
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


def _other_floor(report) -> str | None:
    from yolo10port.compare.precision import hint

    return hint(report)


def likely_cause(report) -> str | None:
    if report.passed:
        return None
    return _input(report) or _other_floor(report) or _precision(report) or _accumulated(report)
