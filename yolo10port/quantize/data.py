"""Images for calibration and for scoring a quantized graph, preprocessed exactly as `val` and the dumps do.

Images and labels are found by val's own loader (workflows/val_data.py: a folder, or an ultralytics data.yaml's val
split; YOLO labels beside the images or under labels/), and each image is letterboxed by dumps/inputs.py, the
predictor's arithmetic (pad 114, BGR→RGB, /255), to the full imgsz×imgsz square a static export takes. mAP is val's:
boxes mapped back to the original image (compare/dataset.scale_rows), rows above YOLO val's confidence 0.001, scored
by pycocotools through compare/dataset_map.py, with its paired bootstrap interval for the difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo10port.compare.dataset import scale_rows
from yolo10port.compare.dataset_map import MapResult, SideEvaluation, _coco, _pycocotools, dataset_map
from yolo10port.errors import InputError
from yolo10port.workflows.val import MAP_CONF
from yolo10port.workflows.val_data import Dataset, labels_in_pixels, load_dataset

MAX_IMAGES = 1000  # a bound on what one option may ask for: each image is a 3×imgsz² float32 tensor in memory
PSEUDO_LABEL_CONF = 0.25  # val's default --conf: the float graph's boxes a user sees become the truth without labels


def select_images(data: Path, limit: int, option: str) -> Dataset:
    """val's dataset at `data`, cut to its first `limit` images (sorted by path: the same set on every run)."""
    if not 1 <= limit <= MAX_IMAGES:
        raise InputError(option, f"{limit} images: give 1 … {MAX_IMAGES}")
    if not data.exists():
        raise InputError(data, f"{option}: no such file or folder")
    dataset = load_dataset(data)
    images = dataset.images[:limit]
    labels = dataset.labels[:limit] if dataset.labels is not None else None
    if labels is not None and not any(len(lab) for lab in labels):
        labels = None
    return Dataset(dataset.source, images, labels, dataset.names)


def check_images(dataset: Dataset) -> None:
    """Every image decodes (InputError naming the first that does not), before any export or calibration run."""
    from yolo10port.dumps.input_source import read_image  # OpenCV, without torch

    for image in dataset.images:
        read_image(image)


def preprocess(image: Path, imgsz: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(1, 3, imgsz, imgsz) float32 RGB 0–1, letterboxed as ultralytics' predictor with a square canvas, and the
    original image's (h, w)."""
    from yolo10port.dumps.inputs import array_tensor, read_image

    array = read_image(image)
    tensor, _ = array_tensor(array, imgsz, auto=False)
    return tensor.numpy(), array.shape[:2]


class CalibrationReader:
    """onnxruntime's CalibrationDataReader protocol (get_next → {input: tensor} or None), rewindable; reads each
    image when it is asked for, so memory does not grow with the calibration set."""

    def __init__(self, dataset: Dataset, input_name: str, imgsz: int):
        self.dataset, self.input_name, self.imgsz = dataset, input_name, imgsz
        self._iter: Iterator[dict] | None = None

    def __len__(self) -> int:
        return len(self.dataset.images)

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        for image in self.dataset.images:
            yield {self.input_name: preprocess(image, self.imgsz)[0]}

    def get_next(self) -> dict | None:
        if self._iter is None:
            self._iter = self.batches()
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = None


@dataclass
class ScoringSet:
    """Images to score a graph on: their tensors (kept: every variant runs on them), sizes and labels in pixels."""

    source: str
    tensors: list[np.ndarray]
    image_hw: list[tuple[int, int]]
    labels: list[np.ndarray]  # class x1 y1 x2 y2, original pixels
    nc: int
    pseudo: bool = False  # the labels are the float graph's own detections (pseudo_labels), not the dataset's

    @property
    def images(self) -> int:
        return len(self.tensors)


def scoring_set(dataset: Dataset, imgsz: int, nc: int) -> ScoringSet:
    """The images preprocessed once, with their labels in pixels; without labels, empty until `pseudo_labels`."""
    tensors, sizes, labels = [], [], []
    for number, image in enumerate(dataset.images):
        tensor, hw = preprocess(image, imgsz)
        tensors.append(tensor)
        sizes.append(hw)
        if dataset.labels is not None:
            labels.append(labels_in_pixels(dataset.labels[number], hw))
    classes = [int(lab[:, 0].max()) + 1 for lab in labels if len(lab)]
    pseudo = dataset.labels is None
    return ScoringSet(dataset.source, tensors, sizes, labels, max([nc, len(dataset.names), *classes]), pseudo)


def pseudo_labels(scoring: ScoringSet, float_rows: list[np.ndarray], conf: float = PSEUDO_LABEL_CONF) -> int:
    """Unlabelled images: the float graph's own detections at `conf` become the labels, so mAP50-95 measures how
    much of what the float model finds the INT8 graph still finds (agreement with float, not accuracy). Returns
    the number of such boxes (0: nothing to score against)."""
    scoring.labels = [
        np.concatenate([rows[rows[:, 4] >= conf][:, 5:6], rows[rows[:, 4] >= conf][:, :4]], 1).astype(np.float64)
        for rows in float_rows
    ]
    classes = [int(lab[:, 0].max()) + 1 for lab in scoring.labels if len(lab)]
    scoring.nc = max([scoring.nc, *classes])
    return sum(len(lab) for lab in scoring.labels)


def detections(session, input_name: str, scoring: ScoringSet) -> list[np.ndarray]:
    """Each image's rows (x1 y1 x2 y2 score class) on the original image, above YOLO val's mAP confidence."""
    out = []
    for tensor, hw in zip(scoring.tensors, scoring.image_hw):
        rows = np.asarray(session.run(None, {input_name: tensor})[0][0], dtype=np.float32)
        rows = scale_rows(rows, tensor.shape[2:], hw)
        out.append(rows[np.isfinite(rows).all(1) & (rows[:, 4] > MAP_CONF)])
    return out


def map50_95(scoring: ScoringSet, rows: list[np.ndarray]) -> float:
    """mAP50-95 of one side (pycocotools through val's evaluation), no bootstrap: what the ranking compares."""
    COCO, COCOeval, _ = _pycocotools()
    truth = _coco(COCO, scoring.images, scoring.nc, scoring.labels, scored=False)
    return SideEvaluation(truth, rows, scoring.images, scoring.nc, 300, COCO, COCOeval).maps()[0]


def compare_maps(
    scoring: ScoringSet, float_rows: list[np.ndarray], rows: list[np.ndarray], resamples: int, seed: int = 0
) -> MapResult:
    """Float vs quantized mAP on the same images, with val's paired bootstrap interval of the difference."""
    return dataset_map(scoring.labels, float_rows, rows, scoring.nc, resamples, seed)
