"""The rule for quantized (INT8) candidates: per-row SQNR and PCC as diagnosis, the verdict left to `val`.

A float candidate is judged per row against the reference's noise floor: how far float32 arithmetic itself moves
each tensor. At 8 bits that floor has no meaning: every row of a correct INT8 port is 10⁴–10⁶ floors off, so the
floor rule fails them all from model.0 and ranks nothing. What tells a good INT8 port from a broken one is the task
(detections, mAP on images: `val --candidate int8.onnx --max-map-drop …`), and what tells which layer costs the most
is its signal-to-quantization-noise ratio (SQNR, dB, as ONNX Runtime's qdq_loss_debug computes it) and its Pearson
correlation (PCC), chained (from the image on) and isolated (the layer fed the reference's inputs: its own Q/DQ
error, without what it inherits).

So on a quantized candidate (metadata `precision` int8/uint8/int4, or a `quantization` record) the rows are
diagnosis: each keeps its figures, gets rule `int8` and no limit, and fails only for what is wrong at any precision
(NaN/Inf, a shape mismatch, another input). The detections are listed, not judged. `diff`/`check` then exit 0 with a
verdict line that says plainly it is diagnosis, names the worst layers, and names the command that gives the verdict.
numpy only; nothing here imports the engine.
"""

from __future__ import annotations

import json
import math

QUANTIZED_RULE = "int8"
QUANTIZED_PRECISIONS = ("int8", "uint8", "int4", "uint4", "int16")
WORST_SHOWN = 5


def is_quantized_meta(meta: dict[str, str]) -> bool:
    """Whether a candidate dump says it is a quantized port: `precision` int8 (or another integer width), or the
    `quantization` record our graph candidate writes."""
    stated = (meta.get("precision") or "").strip().lower()
    return stated in QUANTIZED_PRECISIONS or bool(meta.get("quantization"))


def apply_quantized_rule(report) -> None:
    """Turn a report judged by float rules into the INT8 diagnosis: rows keep their figures, lose their float
    limits, and fail only when non-finite or misshapen (those already carry a reason)."""
    report.quantized = True
    report.tolerance["precision"] = "int8"
    report.tolerance["quantized_rule"] = "diagnosis: rows ranked by SQNR and PCC; verdict from val"
    if str(report.reference_meta.get("input", "")).startswith("random:"):
        report.notes.append(
            "random inputs cannot judge INT8: quantization ranges are calibrated on images, and noise lies outside "
            "them, so every row collapses whatever the port; compare on images (--input IMAGE, or val)"
        )
    for row in report.layers:
        if row.rule == "input" or row.shape is None or row.max_abs is None:
            continue
        finite = row.max_abs == row.max_abs and not row.reason.startswith(("NaN", "shape", "dtype"))
        row.rule, row.limit, row.atol, row.rtol = QUANTIZED_RULE, None, 0.0, 0.0
        row.mean_limit = row.floor_multiple = row.mean_floor_multiple = None
        row.passed = finite
        if finite:
            row.reason = ""


def _db(value: float | None) -> str:
    if value is None:
        return "—"
    return "∞" if math.isinf(value) and value > 0 else f"{value:.1f}"


def ranked(report, isolated: bool) -> list:
    """The quantized rows, worst SQNR first (chained, or isolated where measured); the input row left out."""
    key = "isolated_sqnr" if isolated else "sqnr"
    rows = [r for r in report.layers if r.rule == QUANTIZED_RULE and getattr(r, key) is not None]
    return sorted(rows, key=lambda r: getattr(r, key))


def ranking_dict(report) -> dict:
    """The JSON report's `quantized` field: the rule, and the rows ranked worst first."""
    entry = lambda r, iso: {  # noqa: E731
        "name": r.name,
        "sqnr_db": _json_db(r.isolated_sqnr if iso else r.sqnr),
        "pcc": r.isolated_pcc if iso else r.pcc,
    }
    return {
        "rule": "diagnosis",
        "verdict_from": "val",
        "scheme": _scheme(report),
        "worst_chained": [entry(r, False) for r in ranked(report, False)],
        "worst_isolated": [entry(r, True) for r in ranked(report, True)],
    }


def _json_db(value: float | None):
    return None if value is None or math.isnan(value) else (1e9 if math.isinf(value) else round(value, 3))


def _scheme(report) -> dict | None:
    try:
        return json.loads(report.candidate_meta.get("quantization") or "null")
    except json.JSONDecodeError:
        return None


def drill_line(drill) -> str:
    """What a drill into a quantized layer found: the modules inside that lose the most, alone (else chained)."""
    isolated = bool(ranked(drill, True))
    worst = ranked(drill, isolated)[:3]
    if not worst:
        return "no module inside could be measured"
    figure = (lambda r: r.isolated_sqnr) if isolated else (lambda r: r.sqnr)
    return f"worst {'alone' if isolated else 'chained'}: " + ", ".join(f"{r.name} {_db(figure(r))} dB" for r in worst)


def verdict_line(report, candidate: str = "CANDIDATE") -> str:
    """The one line a quantized report ends with: diagnosis, the worst layers, the head, and who gives the verdict."""
    chained = ranked(report, False)
    isolated = ranked(report, True)
    parts = [
        f"INT8 DIAGNOSIS, not a verdict: {len(chained)} rows ranked by SQNR (a float noise floor means nothing at "
        "8 bits)"
    ]
    if isolated:
        parts.append(
            "worst alone (isolated): "
            + ", ".join(f"{r.name} {_db(r.isolated_sqnr)} dB" for r in isolated[:WORST_SHOWN])
        )
    parts.append("worst chained: " + ", ".join(f"{r.name} {_db(r.sqnr)} dB" for r in chained[:WORST_SHOWN]))
    head = {r.name: r for r in chained if r.name.startswith("model.23/")}
    if head:
        parts.append(
            "head: " + ", ".join(f"{name.split('/')[1]} {_db(r.sqnr)} dB PCC {r.pcc:.2f}" for name, r in head.items())
        )
    if report.drill is not None and report.drill.quantized:
        parts.append(f"drill-down: {drill_line(report.drill)}")
    parts.append(
        f"judge it on images: yolo10port val MODEL --data IMAGES --candidate {candidate} --max-map-drop 0.02 "
        "(exit 0 here says only that nothing is NaN or misshapen)"
    )
    return "; ".join(parts)
