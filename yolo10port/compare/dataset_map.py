"""mAP of both sides with pycocotools (the COCO evaluation), and their paired bootstrap difference over images.

Both sides are scored by the same well-kept implementation: pycocotools' `COCOeval` (bbox, IoU 0.50:0.05:0.95,
101-point interpolated precision; one area range, `all`, and max_det detections per image, as a YOLO val keeps them).
It needs numpy only, so `val` of a foreign port against a golden folder runs from the light install plus
`pycocotools` (no torch, no ultralytics).

The bootstrap resamples images with replacement and recomputes both mAPs on the same resample (paired): COCOeval's
per-image matching (`evaluate`) is done once, and each resample re-runs only its `accumulate` over the chosen images'
evaluations, which is exactly what COCOeval computes for a dataset made of those images.
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import asdict, dataclass

import numpy as np

from yolo10port.errors import InputError

CONFIDENCE = 0.95  # the bootstrap interval's coverage


@dataclass
class MapResult:
    reference_map: float  # mAP50-95
    reference_map50: float
    candidate_map: float
    candidate_map50: float
    delta: float  # candidate − reference, mAP50-95
    delta50: float
    ci: tuple[float, float]  # the delta's bootstrap interval (mAP50-95)
    ci50: tuple[float, float]
    resamples: int
    seed: int
    confidence: float = CONFIDENCE
    images: int = 0
    labels: int = 0
    implementation: str = ""

    @property
    def drop(self) -> float:
        return -self.delta

    @property
    def ci_contains_zero(self) -> bool:
        return self.ci[0] <= 0.0 <= self.ci[1]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["drop"] = self.drop
        data["ci_contains_zero"] = self.ci_contains_zero
        return data


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ModuleNotFoundError:
        raise InputError(
            "--data", "mAP needs pycocotools, which this install lacks: pip install 'yolo10port[val]'"
        ) from None
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("pycocotools")
    except PackageNotFoundError:  # a source checkout on the path: the module, without its distribution's record
        installed = ""
    return COCO, COCOeval, installed


def _coco(COCO, images: int, nc: int, boxes: list[np.ndarray], scored: bool):
    """A COCO object holding one side's rows (N, 6) x1 y1 x2 y2 score class (or labels, N×5 class x1 y1 x2 y2)."""
    annotations = []
    for image_id, rows in enumerate(boxes):
        for row in np.asarray(rows, dtype=np.float64).reshape(-1, 6 if scored else 5):
            x1, y1, x2, y2 = (row[:4] if scored else row[1:5]).tolist()
            entry = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": int(row[5] if scored else row[0]),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": max(x2 - x1, 0.0) * max(y2 - y1, 0.0),
                "iscrowd": 0,
            }
            if scored:
                entry["score"] = float(row[4])
            annotations.append(entry)
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i} for i in range(images)],
        "categories": [{"id": c} for c in range(nc)],
        "annotations": annotations,
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


class SideEvaluation:
    """COCOeval's per-image evaluations of one side, ready to be accumulated over any multiset of images."""

    def __init__(self, ground_truth, detections, images: int, nc: int, max_det: int, COCO, COCOeval):
        evaluation = COCOeval(ground_truth, _coco(COCO, images, nc, detections, scored=True), "bbox")
        params = evaluation.params
        params.imgIds = list(range(images))
        params.catIds = list(range(nc))
        params.areaRng, params.areaRngLbl = [[0.0, 1e10]], ["all"]
        params.maxDets = [max_det]
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation.evaluate()
        self.evaluation = evaluation
        self.per_image = np.empty(len(evaluation.evalImgs), dtype=object)
        self.per_image[:] = evaluation.evalImgs
        self.per_image = self.per_image.reshape(nc, images)  # evaluate's order: category, area (one), image
        self.images = images

    def maps(self, chosen: np.ndarray | None = None) -> tuple[float, float]:
        """(mAP50-95, mAP50) over the chosen images (indices, repeats allowed), as COCOeval's summarize reads them."""
        evaluation = self.evaluation
        chosen = np.arange(self.images) if chosen is None else chosen
        evaluation.evalImgs = list(self.per_image[:, chosen].ravel())
        params = copy.copy(evaluation.params)
        params.imgIds = list(range(len(chosen)))
        evaluation._paramsEval = params
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation.accumulate(params)
        precision = evaluation.eval["precision"][:, :, :, 0, 0]  # (IoU thresholds, recall points, classes)
        return _mean(precision), _mean(precision[0])  # iouThrs[0] is 0.50


def _mean(precision: np.ndarray) -> float:
    valid = precision[precision > -1]  # -1: a class with no label in these images, skipped as summarize does
    return float(valid.mean()) if valid.size else float("nan")


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def dataset_map(
    labels: list[np.ndarray],
    reference: list[np.ndarray],
    candidate: list[np.ndarray],
    nc: int,
    resamples: int = 500,
    seed: int = 0,
    max_det: int = 300,
    confidence: float = CONFIDENCE,
) -> MapResult:
    """Both sides' mAP on the same labels, and the paired bootstrap interval of candidate − reference.

    labels[i]: (n, 5) class x1 y1 x2 y2 in original-image pixels; reference[i], candidate[i]: (k, 6) rows, every row
    the model kept above the mAP confidence (0.001, as YOLO val)."""
    COCO, COCOeval, version = _pycocotools()
    images = len(labels)
    truth = _coco(COCO, images, nc, labels, scored=False)
    reference_side = SideEvaluation(truth, reference, images, nc, max_det, COCO, COCOeval)
    identical = all(np.array_equal(np.asarray(r), np.asarray(c)) for r, c in zip(reference, candidate))
    # The same rows give the same evaluation: a bit-identical candidate's resamples need not be recomputed.
    sides = (
        [reference_side] * 2
        if identical
        else [reference_side, SideEvaluation(truth, candidate, images, nc, max_det, COCO, COCOeval)]
    )
    (ref_map, ref_map50), (cand_map, cand_map50) = (side.maps() for side in sides)
    rng = np.random.default_rng(seed)
    deltas = np.empty((resamples, 2))
    for b in range(resamples):
        chosen = rng.integers(0, images, images)
        r, r50 = sides[0].maps(chosen)
        c, c50 = (r, r50) if identical else sides[1].maps(chosen)
        deltas[b] = c - r, c50 - r50
    return MapResult(
        ref_map,
        ref_map50,
        cand_map,
        cand_map50,
        cand_map - ref_map,
        cand_map50 - ref_map50,
        _interval(deltas[:, 0], confidence),
        _interval(deltas[:, 1], confidence),
        resamples,
        seed,
        confidence,
        images,
        int(sum(len(np.asarray(rows).reshape(-1, 5)) for rows in labels)),
        f"pycocotools {version}".strip(),
    )
