"""Known failure signatures as data: each hint is a small detector with a name, the cause it claims and its test.

A hint is a claim, so each one is tested like one (tests/test_hints_confusion.py): every planted bug against every
hint, each firing for its own cause and no other. Detectors see the report's rows and, for the few tensors a
signature needs (the stem's output, the decoded head, the first failing row), facts measured while the two dumps are
open (`gather`, called by the engine). One that cannot be sure says "consistent with …".

The engine imports this table and iterates over it; nothing here imports the engine (rows, metrics and the input
check are their own modules).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from yolo10port.compare.input_check import INPUT_RULE, REDUCED_PRECISION

# The relative error a candidate shows at its first layers when it computes in reduced precision (README, "Comparing
# and tolerances"): TF32 (10-bit mantissa) and float16 (11 bits) ~5e-4–2e-3, bfloat16 (8 bits) ~4e-3–3e-2;
# a float32 port stays near 1e-6. Deeper layers grow from there.
TF32_BAND = (1e-4, 4e-3)
BFLOAT16_BAND = (4e-3, 5e-2)
STEM = "model.0"
SCORES, BOXES = "model.23/scores", "model.23/boxes"
STRIDES = (8.0, 16.0, 32.0)


@dataclass(frozen=True)
class Hint:
    name: str
    claims: str  # the cause, in a few words (the confusion table's column)
    detect: Callable[[object, dict], str | None]  # (report, facts) → the sentence, or None
    # Asked of quantized candidates' reports only (compare/quantized.py), whose rows are diagnosis; the float hints
    # are never asked of those (a float-rounding or BatchNorm story is wrong for an INT8 port).
    quantized: bool = False


# --- facts measured on tensors while the dumps are open ------------------------------------------------------------


def _channels(array: np.ndarray) -> np.ndarray:
    """(B, C, …) → (C, N): one row of values per channel."""
    return np.moveaxis(array, 1, 0).reshape(array.shape[1], -1)


def stem_facts(ref: np.ndarray, cand: np.ndarray) -> dict:
    """What the stem's error looks like: systematic per channel (a changed BatchNorm, a scaled weight), rounding
    (relative to each value), quantization (absolute, independent of the value) or a rearranged input (the same
    values, elsewhere)."""
    ref, cand = ref.astype(np.float64), cand.astype(np.float64)
    delta = cand - ref
    energy = float((delta**2).sum())
    if energy == 0 or ref.ndim < 3:
        return {}
    r, d = _channels(ref), _channels(delta)
    rc, dc = r - r.mean(1, keepdims=True), d - d.mean(1, keepdims=True)
    var = (rc**2).sum(1)
    slope = np.where(var > 0, (rc * dc).sum(1) / np.where(var > 0, var, 1), 0.0)
    residual = float(((dc - slope[:, None] * rc) ** 2).sum())
    explained = 1.0 - residual / max(float((dc**2).sum()), 1e-300)  # R² of δ on ref, per channel
    scale = float(np.abs(ref).max()) or 1.0
    magnitude = np.abs(ref).reshape(-1)
    error = np.abs(delta).reshape(-1)
    relative = float(np.corrcoef(magnitude, error)[0, 1]) if magnitude.std() > 0 and error.std() > 0 else 0.0
    slopes = np.abs(slope[np.abs(slope) > 0])
    return {
        "sqnr_db": float(10 * np.log10(max(float((ref**2).sum()), 1e-300) / energy)),
        "systematic": explained,
        "slope_spread": float(slopes.max() / np.median(slopes)) if slopes.size else 0.0,
        "relative": relative,  # |δ| grows with |ref|: rounding of each value (float16), not of a fixed step
        "sorted_distance": float(np.abs(np.sort(cand, None) - np.sort(ref, None)).mean() / scale),
        "elementwise": float(np.abs(delta).mean() / scale),
        "ref_min": float(ref.min()),
        "cand_min": float(cand.min()),
    }


def scores_facts(ref: np.ndarray, cand: np.ndarray) -> dict:
    return {
        "cand_min": float(cand.min()),
        "cand_max": float(cand.max()),
        "ref_min": float(ref.min()),
        "ref_max": float(ref.max()),
        # distinct values: scores put through one 8-bit scale that also spans pixel boxes sit on a grid of a step
        # ≥ imgsz/255, so a handful of levels; scores from a float sigmoid take thousands
        "cand_levels": int(np.unique(cand).size),
    }


def boxes_facts(ref: np.ndarray, cand: np.ndarray) -> dict:
    """Whether the boxes moved by one constant shift per anchor, the same on both corners: a translated anchor."""
    delta = cand.astype(np.float64) - ref.astype(np.float64)  # (B, 4, A)
    dx, dy = delta[:, 0], delta[:, 1]
    same_corners = max(float(np.abs(delta[:, 2] - dx).max()), float(np.abs(delta[:, 3] - dy).max()))
    shifts = np.concatenate([np.abs(dx).reshape(-1), np.abs(dy).reshape(-1)])
    halves = np.array([s / 2 for s in STRIDES])
    distance = np.abs(shifts[:, None] - halves[None, :]).min(1)
    return {"same_corners": same_corners, "half_stride": float(distance.max()), "max_shift": float(shifts.max())}


def permutation_facts(ref: np.ndarray, cand: np.ndarray) -> dict:
    """Whether every candidate channel is some reference channel (channel blocks permuted)."""
    r, c = _channels(ref.astype(np.float64)), _channels(cand.astype(np.float64))
    scale = float(np.abs(r).max()) or 1.0
    sums = r.sum(1)
    found = moved = 0
    for index, channel in enumerate(c):
        nearest = np.argsort(np.abs(sums - channel.sum()))[:4]
        match = next((int(j) for j in nearest if np.abs(r[j] - channel).max() <= 1e-4 * scale), None)
        found += match is not None
        moved += match is not None and match != index
    return {"channels": len(c), "found": found, "moved": moved}


def upsample_facts(ref: np.ndarray, cand: np.ndarray) -> dict:
    """Nearest ×2 repeats every value over a 2×2 block; bilinear does not."""

    def blockiness(a: np.ndarray) -> float:
        a = a.astype(np.float64)
        return float(max(np.abs(a[..., 1::2, :] - a[..., ::2, :]).max(), np.abs(a[..., 1::2] - a[..., ::2]).max()))

    return {"ref_steps": blockiness(ref), "cand_steps": blockiness(cand), "scale": float(np.abs(ref).max())}


def _swapped_hw(ref: np.ndarray, cand: np.ndarray) -> bool:
    return ref.ndim == 4 and ref.shape != cand.shape and cand.shape == (*ref.shape[:2], ref.shape[3], ref.shape[2])


def gather(report, tensors: Callable[..., tuple[np.ndarray, np.ndarray] | None]) -> dict:
    """The facts the detectors need, measured once while the two dumps are open (`tensors(key)` → (ref, cand) of the
    same shape, or None; `tensors(key, same_shape=False)` → of any shapes). Only failing rows are looked at."""
    rows = {row.name: row for row in report.layers}
    facts: dict = {}
    failing = lambda name: name in rows and not rows[name].passed  # noqa: E731
    if failing(STEM) and (pair := tensors(STEM)) is not None:
        facts["stem"] = stem_facts(*pair)
    elif failing(STEM) and (pair := tensors(STEM, same_shape=False)) is not None and _swapped_hw(*pair):
        # H and W swapped on a non-square input: the stem's output has the reference's shape with its last two axes
        # exchanged. Swapped back, it holds the reference's kind of values elsewhere, as on a square input.
        facts["stem"] = stem_facts(pair[0], np.swapaxes(pair[1], -1, -2)) | {"hw_swapped": True}
    if (failing(SCORES) or report.quantized) and (pair := tensors("model.23")) is not None:  # int8 rows never fail
        facts["scores"] = scores_facts(pair[0][:, 4:], pair[1][:, 4:])
    if failing(BOXES) and (pair := tensors("model.23")) is not None:
        facts["boxes"] = boxes_facts(pair[0][:, :4], pair[1][:, :4])
    first = report.first_failure
    if first in rows and rows[first].type == "Concat" and (pair := tensors(first)) is not None:
        facts["permutation"] = permutation_facts(*pair)
    if first in rows and rows[first].type == "Upsample" and (pair := tensors(first)) is not None:
        facts["upsample"] = upsample_facts(*pair)
    return facts


# --- the detectors ---------------------------------------------------------------------------------------------------


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


def _random_input(report) -> bool:
    return str(report.reference_meta.get("input", "")).startswith("random:")


def _everywhere_from_the_stem(report) -> tuple[float, str] | None:
    """(relative error of the first layers, first layer) when the candidate fails from its first layer nearly
    everywhere: the shape of an arithmetic difference (precision, quantization, a changed BatchNorm)."""
    numeric = [r for r in report.layers if r.rule != INPUT_RULE and r.max_rel is not None and r.max_rel == r.max_rel]
    if len(numeric) < 3 or numeric[0].passed or sum(not r.passed for r in numeric) < 0.8 * len(numeric):
        return None
    return statistics.median(r.max_rel for r in numeric[:3]), numeric[0].name


def input_differs(report, _facts) -> str | None:
    given = next((row for row in report.layers if row.name == "input"), None)
    if given is not None and not given.passed and REDUCED_PRECISION not in given.reason:
        return f"the candidate was not fed the reference's input ({given.reason}); every later row inherits that"
    return None


# The stem's signal-to-error ratio a floating-point format keeps (measured on the n fixture, random:0, 160 px):
# float16 65 dB, a float32 weight × 1.001 60 dB; an INT8 graph 39 dB; a rearranged input or another activation
# below 15 dB. 8-bit integers cannot reach 45 dB; a float format's mantissa does not fall below it.
FLOAT_FORMAT_SQNR_DB = 45.0
QUANTIZED_SQNR_DB = (20.0, FLOAT_FORMAT_SQNR_DB)


def noise_like(stem: dict) -> bool:
    """The stem's error is noise (rounding, quantization), not one systematic change per channel."""
    return bool(stem) and stem["systematic"] < 0.5


def rounding_like(stem: dict) -> bool:
    """Noise of a floating-point format: no systematic change, and the high SQNR a mantissa keeps."""
    return noise_like(stem) and stem["sqnr_db"] >= FLOAT_FORMAT_SQNR_DB


def reduced_precision(report, facts) -> str | None:
    if report.tolerance.get("precision", "float32") != "float32":
        return None  # already judged by its own precision's floor: what fails is not that precision's rounding
    from yolo10port.compare.precision import hint as other_floor

    # The reference measured other precisions' floors and every failing row fits one: say which option judges it.
    judged_elsewhere = other_floor(report)
    if judged_elsewhere:
        return judged_elsewhere
    spread = _everywhere_from_the_stem(report)
    stem = facts.get("stem", {})
    if spread is None or (stem and not rounding_like(stem)):
        return None
    level, first = spread
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
            f"every layer is off by ~{level:.0e} of its scale from {first} on, rounding-like, in a candidate that "
            f"declares {arithmetic}: consistent with {cause} that the metadata does not record"
        )
    return f"every layer is off by ~{level:.0e} of its scale from {first} on, rounding-like: consistent with {cause}"


def quantized(report, facts) -> str | None:
    stem = facts.get("stem")
    if _everywhere_from_the_stem(report) is None or not noise_like(stem):
        return None
    if not QUANTIZED_SQNR_DB[0] <= stem["sqnr_db"] < QUANTIZED_SQNR_DB[1] or stem["cand_min"] >= 0 > stem["ref_min"]:
        return None
    text = (
        f"noise-like error from model.0 on, {stem['sqnr_db']:.0f} dB below the stem's signal (SQNR; float16 keeps "
        f"~65 dB, bfloat16 ~50): consistent with a quantized (INT8) graph"
    )
    if _random_input(report):
        text += "; random inputs cannot judge INT8 (quantization ranges are calibrated on images): compare on images"
    return text


def systematic_stem(report, facts) -> str | None:
    """A per-channel change of the stem's output: BatchNorm eps and a scaled stem weight both make it. Isolated
    error tells them apart (with eps every BatchNorm is wrong, so every module fails on its own)."""
    stem = facts.get("stem")
    if report.first_failure != STEM or not stem or stem["systematic"] < 0.5:
        return None
    lead = (
        f"the stem's error is a systematic change per channel ({stem['systematic']:.0%} of it follows each "
        "channel's values)"
    )
    if report.isolated:
        failing = sum(row.isolated_passed is False for row in report.layers)
        if failing > 1:
            return (
                f"{lead}, and {failing} modules fail on their own: consistent with BatchNorm eps (ultralytics 1e-3, "
                "PyTorch's default 1e-5) in every layer"
            )
        return f"{lead}, and only the stem fails on its own: consistent with a scaled or mis-converted stem weight"
    return (
        f"{lead}: consistent with BatchNorm eps (ultralytics 1e-3, PyTorch's default 1e-5) or a scaled stem "
        "weight; `check`'s isolated error tells them apart"
    )


def stem_rearranged(report, facts) -> str | None:
    stem = facts.get("stem")
    if report.first_failure != STEM or not stem or stem["elementwise"] < 0.005:
        return None
    if stem["sorted_distance"] > 0.3 * stem["elementwise"] or stem["cand_min"] >= 0 > stem["ref_min"] + 0.01:
        return None
    if stem.get("hw_swapped"):
        return (
            "model.0's output has the reference's shape with H and W exchanged while the input matches: the stem "
            "sees its input with H and W transposed (an image read as W×H)"
        )
    return (
        "model.0 holds the reference's kind of values in other places while the input matches: the stem sees its "
        "input rearranged (channel order RGB, layout NCHW, H and W) or holds rearranged weights"
    )


def activation(report, facts) -> str | None:
    stem = facts.get("stem")
    if report.first_failure != STEM or not stem or not (stem["cand_min"] >= 0 > stem["ref_min"] + 0.01):
        return None
    return (
        f"the candidate's activations are never negative where the reference's reach {stem['ref_min']:.2f}: "
        "consistent with ReLU (or another non-negative activation) in place of SiLU"
    )


def scores_without_sigmoid(report, facts) -> str | None:
    scores = facts.get("scores")
    if not scores or not (scores["cand_min"] < -0.01 or scores["cand_max"] > 1.05):
        return None
    return (
        f"class scores span {scores['cand_min']:.3g}…{scores['cand_max']:.3g}, outside [0, 1]: "
        "the scores are logits, a sigmoid is missing"
    )


def sigmoid_twice(report, facts) -> str | None:
    scores = facts.get("scores")
    if not scores or scores["cand_min"] < 0.5 or scores["cand_max"] > 0.7311 or scores["ref_min"] >= 0.5:
        return None
    return "every class score lies in [0.5, 0.731]: the sigmoid is applied twice"


def anchor_offset(report, facts) -> str | None:
    boxes = facts.get("boxes")
    if not boxes or boxes["max_shift"] == 0 or boxes["same_corners"] > 1e-2 or boxes["half_stride"] > 1e-2:
        return None
    return (
        "every box is shifted by half its level's stride (4, 8 or 16 px), both corners alike: the anchors lack "
        "the 0.5 offset (cell corners instead of centres)"
    )


def concat_order(report, facts) -> str | None:
    found = facts.get("permutation")
    if not found or found["found"] != found["channels"] or not found["moved"]:
        return None
    return (
        f"{report.first_failure} equals the reference with its channel blocks permuted: the Concat's inputs are in "
        "another order"
    )


def upsample_mode(report, facts) -> str | None:
    steps = facts.get("upsample")
    if not steps or steps["ref_steps"] > 1e-6 * steps["scale"] or steps["cand_steps"] <= 1e-4 * steps["scale"]:
        return None
    return (
        f"{report.first_failure} is not constant over 2×2 blocks, as the reference's nearest upsample is: "
        "consistent with bilinear (or another smoothing) interpolation"
    )


# The one-scale collapse: the scores lost in the noise (PCC below 0.2, or SQNR below 3 dB: the error as large as
# the signal) while the boxes hold (PCC ≥ 0.9) and keep at least 10 dB more than the scores. Measured: n fixture,
# bus.jpg 256 px, full QDQ: scores 0.0 dB PCC 0.00, boxes 16.0 dB PCC 0.97; shapes detector: scores 0.0 dB, boxes
# 27.2 dB PCC 0.998; a head put through one uint8 scale at 64 px (the confusion table): scores -20 dB PCC 0.57.
HEAD_COLLAPSE = {"scores_pcc": 0.2, "scores_sqnr": 3.0, "boxes_pcc": 0.9, "gap_db": 10.0}
HEAD_GRID_LEVELS = 16  # one uint8 scale over 0–imgsz px: a step ≥ 0.25 at 64 px, so ≤ 5 levels across 0–1
ATTENTION_TYPES = ("PSA", "Attention")


def _head(report) -> dict:
    return {row.name: row for row in report.layers if row.name in (SCORES, BOXES) and row.pcc is not None}


def head_concat(report, facts) -> str | None:
    head = _head(report)
    if not report.quantized or SCORES not in head or BOXES not in head:
        return None
    # The one-scale collapse leaves its own fingerprint: the scores on a grid of a few levels. Without it, scores
    # lost while boxes hold can also be error accumulated through a quantized body (a fixture on noise: scores
    # -1.0 dB, PCC 0.42, with the decode in float), which a chained diff cannot tell from the collapse.
    levels = facts.get("scores", {}).get("cand_levels")
    if levels is None or levels > HEAD_GRID_LEVELS:
        return None
    scores, boxes = head[SCORES], head[BOXES]
    if scores.sqnr is None or boxes.sqnr is None:
        return None
    lost = scores.pcc < HEAD_COLLAPSE["scores_pcc"] or scores.sqnr < HEAD_COLLAPSE["scores_sqnr"]
    held = boxes.pcc >= HEAD_COLLAPSE["boxes_pcc"] and boxes.sqnr - scores.sqnr >= HEAD_COLLAPSE["gap_db"]
    if not (lost and held):
        return None
    return (
        f"scores lost (SQNR {scores.sqnr:.1f} dB, PCC {scores.pcc:.2f}) while boxes are fine (SQNR {boxes.sqnr:.1f} "
        f"dB, PCC {boxes.pcc:.2f}): consistent with one quantization scale for both, the head's Concat of boxes "
        "(0–imgsz px) and sigmoid scores (0–1), which rounds the scores away; keep the head's decode in float "
        "(exclude its Concat/Sigmoid/DFL nodes from quantization)"
    )


def _worst_alone(report):
    """The body row (model.0–22) with the lowest isolated SQNR: the layer whose own Q/DQ costs the most. Only
    isolated error can say it (chained SQNR falls with depth whoever is at fault), so without it: None."""
    body = [r for r in report.layers if r.rule == "int8" and not r.name.startswith(("model.23", "detections"))]
    isolated = [r for r in body if r.isolated_sqnr is not None]
    return min(isolated, key=lambda r: r.isolated_sqnr, default=None)


def attention_quantized(report, _facts) -> str | None:
    row = _worst_alone(report) if report.quantized else None
    if row is None or (row.type not in ATTENTION_TYPES and ".attn" not in row.name):
        return None
    return (
        f"{row.name} ({row.type}) loses the most on its own (isolated SQNR {row.isolated_sqnr:.1f} dB, the lowest "
        "of the body): consistent with quantized attention, whose softmax probabilities and q·k products do not fit "
        "one 8-bit scale; keep model.10's attention (MatMul, Softmax) in float, or calibrate it on more images"
    )


def accumulated(report, _facts) -> str | None:
    if report.isolated and report.culprit is None and not report.passed:
        return (
            "every module passes in isolation: the chained error is float32 rounding amplified with depth, "
            "not a wrong module"
        )
    return None


HINTS: tuple[Hint, ...] = (
    Hint("input", "input differs", input_differs),
    Hint("precision", "reduced precision", reduced_precision),
    Hint("quantized", "quantized graph", quantized),
    Hint("systematic-stem", "BatchNorm eps or a scaled stem weight", systematic_stem),
    Hint("stem-rearranged", "stem input rearranged", stem_rearranged),
    Hint("activation", "activation not SiLU", activation),
    Hint("no-sigmoid", "scores without sigmoid", scores_without_sigmoid),
    Hint("sigmoid-twice", "sigmoid twice", sigmoid_twice),
    Hint("anchor-offset", "anchors without 0.5 offset", anchor_offset),
    Hint("concat-order", "Concat inputs swapped", concat_order),
    Hint("upsample-mode", "upsample not nearest", upsample_mode),
    Hint("accumulated", "rounding amplified", accumulated),
    Hint("head-concat", "one scale for boxes and scores", head_concat, quantized=True),
    Hint("attention-int8", "attention quantized", attention_quantized, quantized=True),
)


def _asked(report) -> list[Hint]:
    """The hints that apply to this report: the quantized ones for an INT8 candidate, the float ones otherwise."""
    quantized = bool(getattr(report, "quantized", False))
    return [hint for hint in HINTS if hint.quantized == quantized]


def _silent(report) -> bool:
    """A passing float report needs no cause; a quantized one is diagnosis, asked whether or not it 'passes'."""
    return report.passed and not getattr(report, "quantized", False)


def firing(report) -> list[str]:
    """The names of every hint whose signature the report shows (the confusion table's row)."""
    if _silent(report):
        return []
    facts = getattr(report, "evidence", {}) or {}
    return [hint.name for hint in _asked(report) if hint.detect(report, facts)]


def likely_cause(report) -> str | None:
    """The first hint (in the table's order) that fires, or None."""
    if _silent(report):
        return None
    facts = getattr(report, "evidence", {}) or {}
    if getattr(report, "quantized", False):  # diagnosis: every signature that shows, not just the first
        return "; ".join(text for hint in _asked(report) if (text := hint.detect(report, facts))) or None
    return next((text for hint in _asked(report) if (text := hint.detect(report, facts))), None)
