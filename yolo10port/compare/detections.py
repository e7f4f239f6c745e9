"""Compare post-processed detections by matching, never elementwise (numpy).

Top-k over near-equal scores reorders under float noise, so row i of one side need not be row i of the other.
Each reference detection is matched greedily (in score order) to the unused candidate detection of the same
class with the highest IoU; a match needs |Δscore| ≤ match_score and IoU ≥ match_iou, or every corner within
box_tol pixels (the floor rule's box tolerance: where float32 itself moves boxes by a pixel, a small box's IoU can
drop below match_iou for an honest port).

What is left unmatched must be explained, on both sides, or the row fails ("a matched count nothing explains"):
- the candidate must hold as many detections per image as the reference (a 600-row tensor is not "300 matched");
- a reference detection left unmatched is excused only at the top-k cut: its score within match_score of both
  sides' lowest kept scores (a swap with an equal-score neighbour);
- a candidate detection left unmatched is excused only if the reference itself could have picked it: some anchor
  and class of the reference's decoded head (`model.23`, all anchors) has its class, its box (IoU ≥ match_iou or
  corners within box_tol) and its score within match_score, and that score lies within match_score of the
  reference's cut. Without the reference's decoded head nothing can show that, and the box fails (`require_head`;
  the end-to-end match on original-image pixels, which has no head, excuses by scores alone and says so).

Two more facts make a passing row mean something:
- **saturation**: where every kept reference score lies within match_score of the cut (a fixture fed noise scores
  300 boxes 0.9998–1.0), any choice among the tied boxes is legitimate, so matching cannot test post-processing;
  the row says so and does not count as informative (engine: a diff with nothing else compared is exit 2);
- **own head**: where the candidate also dumped its decoded head, its detections must be ultralytics'
  post-processing of its own `model.23` (top-k anchors by best class, then top-k anchor-class pairs), to float32
  resolution. That tests post-processing on any input, saturated or not (a class-agnostic top-k fails it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# The candidate's detections against its own decoded head: the same float32 values selected, so the tolerance is a
# few float32 ulps of a probability near 1 (2^-23 ≈ 1.2e-7), not the cross-implementation noise floor.
OWN_HEAD_SCORE_TOL = 1e-6
OWN_HEAD_BOX_TOL = 1e-3  # pixels: a box gathered from the head is the head's box, bit for bit
BOX_SIDES = 4


@dataclass
class DetectionMatch:
    total: int = 0
    matched: int = 0
    at_cut: int = 0  # reference detections excused as a tie at the cut
    unmatched: int = 0  # reference detections neither matched nor excused
    unexplained: int = 0  # candidate detections neither matched nor something the reference could have output
    rows: int = 0  # the candidate's detections (all images); must equal total
    worst_iou: float = 1.0
    worst_score_diff: float = 0.0
    passed: bool = True
    reason: str = ""
    per_image: list[dict] = field(default_factory=list)
    match_score: float = 0.0  # the tolerances used (the floor rule widens them with the head's noise floor)
    box_tol: float = 0.0
    determined: int = 0  # reference detections scoring above the tie zone at the cut: what matching really tests
    saturated: bool = False  # every kept reference score is tied at the cut: this input cannot test post-processing
    tie_evidence: str = "head"  # head: the reference's model.23 vouches for ties | scores: by scores alone | none
    own_head: dict | None = None  # the candidate's detections re-derived from its own model.23, when it dumped one

    @property
    def informative(self) -> bool:
        """Whether this row tests anything: not saturated, or checked against the candidate's own head, or failed."""
        return not self.passed or not self.saturated or self.own_head is not None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("passed")
        data["informative"] = self.informative
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


def _close_boxes(a: np.ndarray, b: np.ndarray, match_iou: float, box_tol: float) -> np.ndarray:
    """(N, M): IoU ≥ match_iou, or every corner within box_tol pixels."""
    iou = box_iou(a, b)
    close = iou >= match_iou
    if box_tol > 0:
        close |= np.abs(a[:, None, :] - b[None, :, :]).max(-1) <= box_tol
    return close


def postprocess(head: np.ndarray, max_det: int) -> np.ndarray:
    """ultralytics' YOLOv10 post-processing of a decoded head (B, 4 + nc, A) → (B, k, 6): the k anchors of highest
    best-class score, then the k highest anchor-class pairs among them (a box may appear once per class)."""
    head = np.asarray(head, dtype=np.float64)
    nc = head.shape[1] - BOX_SIDES
    k = min(max_det, head.shape[2])
    out = []
    for image in head:
        boxes, scores = image[:BOX_SIDES].T, image[BOX_SIDES:].T  # (A, 4), (A, nc)
        anchors = np.argsort(-scores.max(1), kind="stable")[:k]
        flat = scores[anchors].reshape(-1)
        pairs = np.argsort(-flat, kind="stable")[:k]
        rows = np.concatenate(
            [boxes[anchors[pairs // nc]], flat[pairs, None], (pairs % nc)[:, None].astype(np.float64)], axis=1
        )
        out.append(rows)
    return np.stack(out)


def match_detections(
    ref: np.ndarray,
    cand: np.ndarray,
    match_iou: float,
    match_score: float,
    box_tol: float = 0.0,
    head: np.ndarray | None = None,
    own_head: np.ndarray | None = None,
    require_head: bool = True,
) -> DetectionMatch:
    """ref, cand: (B, k, 6) rows x1, y1, x2, y2, score, class. head: the reference's decoded head (B, 4 + nc, A),
    own_head: the candidate's, if dumped."""
    ref, cand = np.asarray(ref, dtype=np.float64), np.asarray(cand, dtype=np.float64)
    result = DetectionMatch(match_score=match_score, box_tol=box_tol)
    result.tie_evidence = "head" if head is not None else ("none" if require_head else "scores")
    if ref.ndim != 3 or cand.ndim != 3 or ref.shape[0] != cand.shape[0] or ref.shape[-1] != 6 or cand.shape[-1] != 6:
        result.passed, result.reason = False, f"shapes {tuple(ref.shape)} vs {tuple(cand.shape)}"
        return result
    heads = _usable_head(head, ref)
    result.rows = cand.shape[0] * cand.shape[1]
    for index, (r, c) in enumerate(zip(ref, cand)):
        image = _match_image(
            r, c, match_iou, match_score, box_tol, None if heads is None else heads[index], require_head
        )
        result.per_image.append(image)
        for name in ("total", "matched", "at_cut", "unmatched", "unexplained", "determined"):
            setattr(result, name, getattr(result, name) + image[name])
        result.worst_iou = min(result.worst_iou, image["worst_iou"])
        result.worst_score_diff = max(result.worst_score_diff, image["worst_score_diff"])
    result.saturated = result.total > 0 and result.determined == 0
    reasons = []
    if cand.shape[1] != ref.shape[1]:
        reasons.append(f"the candidate holds {cand.shape[1]} detections per image, the reference {ref.shape[1]}")
    if result.unmatched:
        reasons.append(f"{result.unmatched} of {result.total} reference detections have no match")
    if result.unexplained:
        why = (
            "that the reference's decoded head (model.23) could not have output at the cut"
            if heads is not None
            else "that nothing explains (the reference holds no decoded head model.23 to show a tie at the cut)"
        )
        reasons.append(f"{result.unexplained} candidate detections {why}")
    if own_head is not None and cand.shape[1] == ref.shape[1]:
        result.own_head = _check_own_head(cand, own_head, match_iou)
        if result.own_head and not result.own_head["pass"]:
            reasons.append(result.own_head["reason"])
    result.passed = not reasons
    result.reason = "; ".join(reasons)
    return result


def _usable_head(head: np.ndarray | None, ref: np.ndarray) -> np.ndarray | None:
    if head is None:
        return None
    head = np.asarray(head, dtype=np.float64)
    if head.ndim != 3 or head.shape[0] != ref.shape[0] or head.shape[1] <= BOX_SIDES or not np.isfinite(head).all():
        return None
    return head


def _check_own_head(cand: np.ndarray, own_head: np.ndarray, match_iou: float) -> dict | None:
    """The candidate's detections against ultralytics' post-processing of its own decoded head."""
    own = _usable_head(own_head, cand)
    if own is None:
        return None
    expected = postprocess(own, cand.shape[1])
    check = match_detections(
        expected, cand, match_iou, OWN_HEAD_SCORE_TOL, OWN_HEAD_BOX_TOL, head=own, require_head=True
    )
    return {
        "pass": check.passed,
        "matched": check.matched,
        "at_cut": check.at_cut,
        "total": check.total,
        "reason": (
            ""
            if check.passed
            else "post-processing: the candidate's detections are not ultralytics' top-k of its own model.23 "
            f"({check.matched}/{check.total} match it)"
        ),
    }


def _excused_by_head(
    row: np.ndarray, head: np.ndarray, cut: float, match_iou: float, match_score: float, box_tol: float
) -> bool:
    """Whether the reference could have output this candidate detection: an anchor of its head with this class, this
    box and this score, the score tied with the reference's cut."""
    cls = int(row[5])
    if row[5] != cls or not 0 <= cls < head.shape[0] - BOX_SIDES:
        return False
    scores = head[BOX_SIDES + cls]
    near = (np.abs(scores - row[4]) <= match_score) & (np.abs(scores - cut) <= match_score)
    if not near.any():
        return False
    anchors = head[:BOX_SIDES, near].T
    return bool(_close_boxes(row[None, :4], anchors, match_iou, box_tol).any())


def _match_image(
    ref: np.ndarray,
    cand: np.ndarray,
    match_iou: float,
    match_score: float,
    box_tol: float,
    head: np.ndarray | None,
    require_head: bool,
) -> dict:
    if not (np.isfinite(ref).all() and np.isfinite(cand).all()):
        return {
            "total": len(ref),
            "matched": 0,
            "at_cut": 0,
            "unmatched": len(ref),
            "unexplained": len(cand),
            "determined": len(ref),
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
    unexplained = 0
    for j in np.flatnonzero(~used):
        if head is not None:
            excused = _excused_by_head(cand[j], head, ref_cut, match_iou, match_score, box_tol)
        else:  # no head: only the end-to-end match (require_head=False) may excuse by scores alone
            excused = not require_head and abs(float(cand[j, 4]) - ref_cut) <= match_score
        unexplained += not excused
    return {
        "total": len(ref),
        "matched": matched,
        "at_cut": at_cut,
        "unmatched": unmatched,
        "unexplained": unexplained,
        "determined": int((ref[:, 4] > ref_cut + match_score).sum()),
        "worst_iou": worst_iou,
        "worst_score_diff": worst_diff,
    }
