"""End-to-end parity (`check --e2e`): ultralytics' own predictor vs the clean model, image in, boxes out.

Both sides take the same image file and return boxes on the *original* image; they are matched like dump
detections (same class, IoU ≥ match_iou, |Δscore| ≤ match_score, swaps at the top-k cut allowed). conf 0 keeps all
max_det boxes, so the comparison covers the whole ranked list, not only the confident few.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yolo10port.candidates.clean import load_clean_model
from yolo10port.compare.detections import DetectionMatch, match_detections
from yolo10port.compare.rules import Tolerances
from yolo10port.dumps.inputs import array_tensor, read_image
from yolo10port.reference.predict import ultralytics_predict
from yolo10port.workflows.detect import rows_on_original


@dataclass
class EndToEnd:
    image: str
    match: DetectionMatch
    reference_boxes: int
    clean_boxes: int
    input_identical: bool  # the two preprocessed tensors are equal, element for element


def run_e2e(
    model_path: str | Path,
    image: str | Path,
    imgsz: int = 640,
    fuse: bool = True,
    tolerances: Tolerances | None = None,
    conf: float = 0.0,
) -> EndToEnd:
    tol = tolerances or Tolerances()
    ul_input, ul_boxes = ultralytics_predict(model_path, image, imgsz, conf)
    model, _ = load_clean_model(model_path, fuse=fuse)
    array = read_image(image)
    our_input, _ = array_tensor(array, imgsz)
    ours = rows_on_original(model, our_input, array.shape[:2], conf)
    same_input = our_input.shape == ul_input.shape and bool((our_input == ul_input).all())
    match = match_detections(
        ul_boxes[None].double().numpy(),
        ours[None].double().numpy(),
        tol.match_iou,
        tol.match_score,
        require_head=False,  # boxes on original-image pixels: no decoded head vouches for a tie at the cut
    )
    return EndToEnd(str(image), match, len(ul_boxes), len(ours), same_input)
