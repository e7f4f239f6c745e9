"""Parity on a dataset, per image: which of the reference's boxes the candidate kept, moved, lost, or added (numpy).

Both sides' rows are x1, y1, x2, y2, score, class on the original image, every row the model kept (score above
the mAP threshold), so that a box that only crossed the user's `conf` can be told from one that vanished:

- matched: a candidate box of the same class with IoU ≥ `iou` (greedy, reference boxes in score order);
- shifted: no such box, but one of the same class overlaps it (0 < IoU < `iou`): the box moved;
- lost: nothing of its class overlaps it;
- gained: a candidate box above `conf` that no reference box claimed;
- at the conf threshold: a reference box whose counterpart (same class, IoU ≥ `iou`) scored just below `conf` on the
  other side, within CONF_MARGIN (or the reverse): float noise at the cut, not a different detection.
- at the max_det cut: a side that kept all MAX_DET rows above `conf` was cut by the top-k, not by `conf`; its boxes
  scoring within CONF_MARGIN of its lowest kept score are a tie at that cut (a saturated head scores hundreds of
  anchors at ~1.0), so losing or gaining one says nothing about the port. They are excused, counted apart, and left
  out of the match rate; an image whose every reference box is such a tie cannot test the detections at all.

Imports numpy only: `val` against a golden folder runs from the light install.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from yolo10port.compare.detections import box_iou

CONF_MARGIN = 0.01  # a score this close to `conf` on both sides of it is a crossing of the threshold, not a loss
MAX_DET = 300  # rows the head keeps (ultralytics' max_det, and every static export's top-k)


def scale_rows(rows: np.ndarray, input_hw: tuple[int, int], original_hw: tuple[int, int]) -> np.ndarray:
    """Rows in letterboxed-input pixels → original-image pixels, clipped: the arithmetic of ultralytics'
    `scale_boxes` (and workflows/detect.py's copy of it), in float32 like the predictor, with numpy only."""
    rows = np.array(rows, dtype=np.float32).reshape(-1, 6)
    h0, w0 = original_hw
    gain = min(input_hw[0] / h0, input_hw[1] / w0)
    new_h, new_w = (max(round(side * gain), 1) for side in original_hw)  # the letterbox rounds each side
    gain_y, gain_x = np.float32(new_h / h0), np.float32(new_w / w0)
    pad_x, pad_y = round((input_hw[1] - new_w) / 2 - 0.1), round((input_hw[0] - new_h) / 2 - 0.1)
    boxes = rows[:, :4]
    boxes[:, [0, 2]] -= np.float32(pad_x)
    boxes[:, [1, 3]] -= np.float32(pad_y)
    boxes[:, [0, 2]] /= gain_x
    boxes[:, [1, 3]] /= gain_y
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w0)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h0)
    return rows


@dataclass
class ImageDiff:
    """One image's comparison at the user's confidence."""

    name: str
    image: str  # the image file, for the drill-down command and the thumbnail
    reference: int = 0  # reference boxes above conf
    candidate: int = 0
    matched: int = 0
    shifted: int = 0
    lost: int = 0
    gained: int = 0
    at_conf: int = 0
    at_cut: int = 0  # boxes tied at a full side's max_det cut (excused, and not in the match rate)
    cut_excused: int = 0  # of those, the reference's
    worst_iou: float = 1.0  # among matched boxes
    max_abs_score_delta: float = 0.0  # among matched boxes
    score_deltas: list[float] = field(default_factory=list)  # candidate − reference, per matched box
    reference_status: list[str] = field(default_factory=list)  # per reference box above conf, in row order
    candidate_status: list[str] = field(default_factory=list)  # per candidate box above conf, in row order
    notes: list[str] = field(default_factory=list)  # e.g. "a circle became a square", "scored 0.12 (below conf)"
    input_cause: str | None = None  # the candidate's input is not the reference's, and how (None: identical)

    @property
    def problems(self) -> int:
        return self.shifted + self.lost + self.gained

    def to_dict(self) -> dict:
        data = asdict(self)
        data["problems"] = self.problems
        return data


def _counterpart(box: np.ndarray, others: np.ndarray, iou: float) -> np.ndarray:
    """Rows of `others` of the box's class overlapping it by IoU ≥ iou."""
    if not len(others):
        return others
    same = others[others[:, 5] == box[5]]
    return same[box_iou(box[None, :4], same[:, :4])[0] >= iou] if len(same) else same


def match_image(
    name: str, image: str, ref_rows: np.ndarray, cand_rows: np.ndarray, conf: float = 0.25, iou: float = 0.9
) -> ImageDiff:
    """Compare one image's detections (both (N, 6) on the original image, every kept row; `conf` is applied here)."""
    ref_rows = np.asarray(ref_rows, dtype=np.float64).reshape(-1, 6)
    cand_rows = np.asarray(cand_rows, dtype=np.float64).reshape(-1, 6)
    ref, cand = ref_rows[ref_rows[:, 4] > conf], cand_rows[cand_rows[:, 4] > conf]
    diff = ImageDiff(name, image, reference=len(ref), candidate=len(cand))
    ref_status, cand_status = ["lost"] * len(ref), ["gained"] * len(cand)
    ref_tied, cand_tied = _tied_at_cut(ref_rows, ref, conf), _tied_at_cut(cand_rows, cand, conf)
    if not (np.isfinite(ref_rows).all() and np.isfinite(cand_rows).all()):
        diff.notes.append("non-finite values in the detections")
    overlap = box_iou(ref[:, :4], cand[:, :4]) if len(ref) and len(cand) else np.zeros((len(ref), len(cand)))
    overlap = np.nan_to_num(overlap, nan=0.0)
    same_class = ref[:, None, 5] == cand[None, :, 5]
    used = np.zeros(len(cand), dtype=bool)
    order = np.argsort(-ref[:, 4], kind="stable")
    for i in order:  # first pass: matches
        scores = np.where(same_class[i] & ~used, overlap[i], -1.0)
        j = int(scores.argmax()) if len(cand) else -1
        if j >= 0 and scores[j] >= iou:
            used[j] = True
            ref_status[i] = cand_status[j] = "matched"
            delta = float(cand[j, 4] - ref[i, 4])
            diff.matched += 1
            diff.score_deltas.append(delta)
            diff.worst_iou = min(diff.worst_iou, float(overlap[i, j]))
            diff.max_abs_score_delta = max(diff.max_abs_score_delta, abs(delta))
    for i in order:  # second pass: boxes that moved (a shifted box is one box, not one lost and one gained)
        if ref_status[i] != "lost" or ref_tied[i]:
            continue
        scores = np.where(same_class[i] & ~used, overlap[i], 0.0)
        j = int(scores.argmax()) if len(cand) else -1
        if j >= 0 and scores[j] > 0:
            used[j] = True
            ref_status[i] = cand_status[j] = "shifted"
            diff.shifted += 1
            diff.notes.append(f"box {i} shifted: IoU {scores[j]:.3f}")
    for i, status in enumerate(ref_status):  # what is left: tied at the cut, crossed conf, or lost (and why)
        if status != "lost":
            continue
        if ref_tied[i]:
            ref_status[i] = "at cut"
            diff.at_cut += 1
            diff.cut_excused += 1
            continue
        below = _counterpart(ref[i], cand_rows[cand_rows[:, 4] <= conf], iou)
        if len(below) and ref[i, 4] - below[:, 4].max() <= CONF_MARGIN:
            ref_status[i] = "at conf"
            diff.at_conf += 1
            continue
        diff.lost += 1
        if len(below):
            diff.notes.append(f"box {i} lost: scored {below[:, 4].max():.3f} (reference {ref[i, 4]:.3f})")
        else:
            other = cand[(box_iou(ref[i : i + 1, :4], cand[:, :4])[0] >= iou)] if len(cand) else cand
            if len(other):
                diff.notes.append(f"box {i} lost: class {int(ref[i, 5])} became {int(other[0, 5])}")
    for j, status in enumerate(cand_status):
        if status != "gained":
            continue
        if cand_tied[j]:
            cand_status[j] = "at cut"
            diff.at_cut += 1
            continue
        below = _counterpart(cand[j], ref_rows[ref_rows[:, 4] <= conf], iou)
        if len(below) and cand[j, 4] - below[:, 4].max() <= CONF_MARGIN:
            cand_status[j] = "at conf"
            diff.at_conf += 1
        else:
            diff.gained += 1
    diff.reference_status, diff.candidate_status = ref_status, cand_status
    return diff


def _tied_at_cut(rows: np.ndarray, above: np.ndarray, conf: float) -> np.ndarray:
    """Per box above conf: whether it is a tie at this side's max_det cut (module docstring)."""
    if len(rows) < MAX_DET or not len(above) or rows[:, 4].min() <= conf:
        return np.zeros(len(above), dtype=bool)  # not full, or full only below conf: conf made the set, not top-k
    return above[:, 4] - rows[:, 4].min() <= CONF_MARGIN


@dataclass
class DatasetDiff:
    """Every image's diff, and what they add up to."""

    images: list[ImageDiff]
    conf: float
    iou: float

    def total(self, field_name: str) -> int:
        return sum(getattr(image, field_name) for image in self.images)

    @property
    def match_rate(self) -> float:
        """Reference boxes above conf the candidate reproduced (matched, or the same box just across conf), among
        those not tied at the max_det cut."""
        reference = self.total("reference") - self.total("cut_excused")
        crossed = sum(status == "at conf" for image in self.images for status in image.reference_status)
        return (self.total("matched") + crossed) / reference if reference else 1.0

    @property
    def informative(self) -> bool:
        """False when the reference found boxes but every one was a tie at the max_det cut: nothing tested."""
        return not (self.total("reference") and self.total("reference") == self.total("cut_excused"))

    @property
    def perfect_images(self) -> int:
        return sum(image.problems == 0 for image in self.images)

    def score_delta_summary(self) -> dict:
        deltas = np.array([d for image in self.images for d in image.score_deltas], dtype=np.float64)
        if not len(deltas):
            return {"count": 0, "mean": None, "max_abs": None, "p99_abs": None}
        return {
            "count": int(len(deltas)),
            "mean": float(deltas.mean()),
            "max_abs": float(np.abs(deltas).max()),
            "p99_abs": float(np.quantile(np.abs(deltas), 0.99)),
        }

    def worst(self, count: int) -> list[ImageDiff]:
        """The images that differ most: most boxes lost, shifted or gained, then the lowest IoU of a matched box,
        then the largest score change."""
        ranked = sorted(
            self.images,
            key=lambda d: (-d.problems, -d.lost, d.worst_iou, -d.max_abs_score_delta, d.name),
        )
        return ranked[:count]

    def input_causes(self) -> dict[str, int]:
        """Each distinct preprocessing difference and on how many images it was seen."""
        causes: dict[str, int] = {}
        for image in self.images:
            if image.input_cause:
                causes[image.input_cause] = causes.get(image.input_cause, 0) + 1
        return dict(sorted(causes.items(), key=lambda item: -item[1]))


def input_cause(ref: np.ndarray | None, cand: np.ndarray | None, imgsz: int | None = None) -> str | None:
    """How the candidate's input tensor differs from the reference's, named when the pattern is a known pipeline
    mistake (BGR, 0–255, NHWC, square vs rectangular letterbox, another imgsz); None when they are equal."""
    from yolo10port.compare.input_check import ROUNDING, _looks_like

    if ref is None or cand is None:
        return None
    ref, cand = np.asarray(ref, dtype=np.float64), np.asarray(cand, dtype=np.float64)
    if ref.shape == cand.shape:
        error = float(np.abs(ref - cand).max()) if ref.size else 0.0
        if error <= ROUNDING * max(1.0, float(np.abs(ref).max(initial=0.0))):
            return None
        cause = _looks_like(ref, cand, ROUNDING)
        if cause:
            return "BGR/RGB swap: " + cause if "BGR" in cause else cause
        return f"same shape, values differ by up to {error:.3g} (another resize, padding value or normalisation?)"
    known = _looks_like(ref, cand, ROUNDING)
    if known:
        return known
    if ref.ndim != 4 or cand.ndim != 4:
        return f"shape {tuple(cand.shape)} ≠ reference {tuple(ref.shape)}"
    (rh, rw), (ch, cw) = ref.shape[2:], cand.shape[2:]
    described = f"{ch}×{cw} input vs the reference's {rh}×{rw}"
    if max(rh, rw) == max(ch, cw):
        if ch == cw and rh != rw:
            return (
                f"square vs rectangular letterbox: {described} (the candidate pads to the full square; the reference "
                "is ultralytics' predictor, the minimal stride-32 rectangle; run the reference with --square, or "
                "letterbox like the predictor)"
            )
        if rh == rw and ch != cw:
            return (
                f"rectangular vs square letterbox: {described} (the candidate pads to the minimal stride-32 "
                "rectangle; the reference was run with --square)"
            )
        return f"another letterbox: {described}"
    return f"another imgsz: {described}"
