"""Compare post-processed detections by matching, never elementwise (numpy).

Top-k over near-equal scores reorders under float noise, so row i of one side need not be row i of the other.
Each reference detection is matched greedily (in score order) to the unused candidate detection of the same
class with the highest IoU; a match needs |Δscore| ≤ match_score and IoU ≥ match_iou, or every corner within
box_tol pixels (the floor rule's box tolerance: where float32 itself moves boxes by a pixel, a small box's IoU can
drop below match_iou for an honest port). A reference detection
left unmatched whose score is within match_score of both sides' lowest kept scores sits at the top-k cut, where a
swap with an equal-score neighbour is legitimate: it is counted as `at_cut`, not as a failure. (Both sides: a
candidate whose scores are all wrong must not make every reference detection look like one at the cut.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class DetectionMatch:
    total: int = 0
    matched: int = 0
    at_cut: int = 0
    unmatched: int = 0
    worst_iou: float = 1.0
    worst_score_diff: float = 0.0
    passed: bool = True
    reason: str = ""
    per_image: list[dict] = field(default_factory=list)
    match_score: float = 0.0  # the tolerances used (the floor rule widens them with the head's noise floor)
    box_tol: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("passed")
        return data


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) xyxy boxes."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    same = (a[:, None] == b[None, :]).all(-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), same)


def match_detections(
    ref: np.ndarray, cand: np.ndarray, match_iou: float, match_score: float, box_tol: float = 0.0
) -> DetectionMatch:
    """ref, cand: (B, k, 6) rows x1, y1, x2, y2, score, class."""
    ref, cand = np.asarray(ref, dtype=np.float64), np.asarray(cand, dtype=np.float64)
    result = DetectionMatch(match_score=match_score, box_tol=box_tol)
    if ref.ndim != 3 or cand.ndim != 3 or ref.shape[0] != cand.shape[0] or ref.shape[-1] != 6 or cand.shape[-1] != 6:
        result.passed, result.reason = False, f"shapes {tuple(ref.shape)} vs {tuple(cand.shape)}"
        return result
    for r, c in zip(ref, cand):
        image = _match_image(r, c, match_iou, match_score, box_tol)
        result.per_image.append(image)
        result.total += image["total"]
        result.matched += image["matched"]
        result.at_cut += image["at_cut"]
        result.unmatched += image["unmatched"]
        result.worst_iou = min(result.worst_iou, image["worst_iou"])
        result.worst_score_diff = max(result.worst_score_diff, image["worst_score_diff"])
    result.passed = result.unmatched == 0
    if not result.passed:
        result.reason = f"{result.unmatched} of {result.total} reference detections have no match"
    return result


def _match_image(ref: np.ndarray, cand: np.ndarray, match_iou: float, match_score: float, box_tol: float) -> dict:
    if not (np.isfinite(ref).all() and np.isfinite(cand).all()):
        return {
            "total": len(ref),
            "matched": 0,
            "at_cut": 0,
            "unmatched": len(ref),
            "worst_iou": 0.0,
            "worst_score_diff": float("inf"),
        }
    iou = box_iou(ref[:, :4], cand[:, :4])
    if box_tol > 0:  # corners within the box tolerance count as a full match, whatever the IoU of a small box
        close = np.abs(ref[:, None, :4] - cand[None, :, :4]).max(-1) <= box_tol
        iou = np.where(close, np.maximum(iou, match_iou), iou)
    same_class = ref[:, None, 5] == cand[None, :, 5]
    score_diff = np.abs(ref[:, None, 4] - cand[None, :, 4])
    candidate_ok = same_class & (score_diff <= match_score)
    used = np.zeros(len(cand), dtype=bool)
    cand_cut = float(cand[:, 4].min()) if len(cand) else 0.0
    ref_cut = float(ref[:, 4].min()) if len(ref) else 0.0
    matched = at_cut = unmatched = 0
    worst_iou, worst_diff = 1.0, 0.0
    for i in np.argsort(-ref[:, 4], kind="stable"):
        scores = np.where(candidate_ok[i] & ~used, iou[i], -1.0)
        j = int(scores.argmax()) if len(cand) else -1
        if j >= 0 and scores[j] >= match_iou:
            used[j] = True
            matched += 1
            worst_iou = min(worst_iou, float(iou[i, j]))
            worst_diff = max(worst_diff, float(score_diff[i, j]))
        elif abs(float(ref[i, 4]) - cand_cut) <= match_score and float(ref[i, 4]) - ref_cut <= match_score:
            at_cut += 1
        else:
            unmatched += 1
    return {
        "total": len(ref),
        "matched": matched,
        "at_cut": at_cut,
        "unmatched": unmatched,
        "worst_iou": worst_iou,
        "worst_score_diff": worst_diff,
    }
