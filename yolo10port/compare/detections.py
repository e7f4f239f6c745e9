"""Compare post-processed detections by matching, never elementwise.

Top-k over near-equal scores reorders under float noise, so row i of one side need not be row i of the other.
Each reference detection is matched greedily (in score order) to the unused candidate detection of the same
class with the highest IoU; a match needs IoU ≥ match_iou and |Δscore| ≤ match_score. A reference detection
left unmatched whose score is within match_score of both sides' lowest kept scores sits at the top-k cut, where a
swap with an equal-score neighbour is legitimate: it is counted as `at_cut`, not as a failure. (Both sides: a
candidate whose scores are all wrong must not make every reference detection look like one at the cut.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


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

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("passed")
        return data


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix between (N, 4) and (M, 4) xyxy boxes."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union, (a[:, None] == b[None, :]).all(-1).double())


def match_detections(ref: torch.Tensor, cand: torch.Tensor, match_iou: float, match_score: float) -> DetectionMatch:
    """ref, cand: (B, k, 6) rows x1, y1, x2, y2, score, class."""
    result = DetectionMatch()
    if ref.shape[0] != cand.shape[0] or ref.shape[-1] != 6 or cand.shape[-1] != 6:
        result.passed, result.reason = False, f"shapes {tuple(ref.shape)} vs {tuple(cand.shape)}"
        return result
    for r, c in zip(ref.double(), cand.double()):
        image = _match_image(r, c, match_iou, match_score)
        result.per_image.append(image)
        result.total += image["total"]
        result.matched += image["matched"]
        result.at_cut += image["at_cut"]
        result.unmatched += image["unmatched"]
        result.worst_iou = min(result.worst_iou, image["worst_iou"])
        result.worst_score_diff = max(result.worst_score_diff, image["worst_score_diff"])
    result.passed = result.unmatched == 0
    if not result.passed:
        result.reason = f"{result.unmatched} reference detections have no match"
    return result


def _match_image(ref: torch.Tensor, cand: torch.Tensor, match_iou: float, match_score: float) -> dict:
    if not (torch.isfinite(ref).all() and torch.isfinite(cand).all()):
        return {
            "total": len(ref),
            "matched": 0,
            "at_cut": 0,
            "unmatched": len(ref),
            "worst_iou": 0.0,
            "worst_score_diff": float("inf"),
        }
    iou = box_iou(ref[:, :4], cand[:, :4])
    same_class = ref[:, None, 5] == cand[None, :, 5]
    score_diff = (ref[:, None, 4] - cand[None, :, 4]).abs()
    candidate_ok = same_class & (score_diff <= match_score)
    used = torch.zeros(len(cand), dtype=torch.bool)
    cand_cut = float(cand[:, 4].min()) if len(cand) else 0.0
    ref_cut = float(ref[:, 4].min()) if len(ref) else 0.0
    matched = at_cut = unmatched = 0
    worst_iou, worst_diff = 1.0, 0.0
    for i in torch.argsort(ref[:, 4], descending=True, stable=True).tolist():
        scores = torch.where(candidate_ok[i] & ~used, iou[i], torch.full_like(iou[i], -1.0))
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
