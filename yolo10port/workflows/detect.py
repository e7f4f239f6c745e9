"""Image in, boxes on the original image out: the clean model as a detector.

Preprocessing is ultralytics' predictor's (letterbox to the minimal stride-32 rectangle, pad 114, BGR→RGB, /255);
boxes are mapped back to the original image and clipped with the same arithmetic as ultralytics' `scale_boxes`,
so that the whole path can be proven equal to `YOLO(...).predict` (check --e2e).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from yolo10port.atomic import atomic_path
from yolo10port.dumps.inputs import array_tensor, read_image
from yolo10port.dumps.spec import check_imgsz
from yolo10port.model import YOLOv10


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original-image pixels
    score: float
    class_id: int
    name: str


def scale_boxes(boxes: torch.Tensor, input_hw: tuple[int, int], original_hw: tuple[int, int]) -> torch.Tensor:
    """xyxy boxes in letterboxed-input pixels → original-image pixels, clipped (in place, float32 like ultralytics).

    The gain and padding are recomputed from the two shapes, as ultralytics does, not taken from the letterbox.
    """
    gain = min(input_hw[0] / original_hw[0], input_hw[1] / original_hw[1])
    new_h, new_w = (max(round(side * gain), 1) for side in original_hw)  # the letterbox rounds each side
    gain_y, gain_x = new_h / original_hw[0], new_w / original_hw[1]
    pad_x, pad_y = round((input_hw[1] - new_w) / 2 - 0.1), round((input_hw[0] - new_h) / 2 - 0.1)
    boxes[..., [0, 2]] -= pad_x
    boxes[..., [1, 3]] -= pad_y
    boxes[..., [0, 2]] /= gain_x
    boxes[..., [1, 3]] /= gain_y
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clamp(0, original_hw[1])
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clamp(0, original_hw[0])
    return boxes


def predict_rows(model: YOLOv10, image: np.ndarray, imgsz: int = 640, conf: float = 0.25) -> torch.Tensor:
    """(N, 6) rows x1, y1, x2, y2, score, class on the original image; scores > conf, best first."""
    check_imgsz(imgsz)
    tensor, _ = array_tensor(image, imgsz)
    return rows_on_original(model, tensor, image.shape[:2], conf)


@torch.inference_mode()
def rows_on_original(
    model: YOLOv10, tensor: torch.Tensor, original_hw: tuple[int, int], conf: float = 0.25
) -> torch.Tensor:
    """The same from an already letterboxed (1, 3, h, w) input tensor of an image of shape `original_hw`."""
    parameter = next(model.parameters())
    rows = model(tensor.to(device=parameter.device, dtype=parameter.dtype))[0].float().cpu()
    rows = rows[rows[:, 4] > conf]  # ultralytics' end-to-end filter: strictly above conf
    rows[:, :4] = scale_boxes(rows[:, :4].clone(), tuple(tensor.shape[2:]), original_hw)
    return rows


def predict(
    model: YOLOv10, image: str | Path | np.ndarray, imgsz: int = 640, conf: float = 0.25, device: str = "cpu"
) -> list[Detection]:
    """Detect on one image (a path, or an (H, W, 3) BGR uint8 array as OpenCV gives), on `device`."""
    if device != "cpu":
        from yolo10port.dumps.device import torch_device

        model.to(torch_device(device))
    array = read_image(image) if isinstance(image, (str, Path)) else image
    names = getattr(model, "names", None) or {}
    return [
        Detection(
            tuple(float(v) for v in row[:4]), float(row[4]), int(row[5]), names.get(int(row[5]), str(int(row[5])))
        )
        for row in predict_rows(model, array, imgsz, conf)
    ]


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour per class (golden-ratio hues)."""
    r, g, b = colorsys.hsv_to_rgb((class_id * 0.618034) % 1.0, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_detections(image: np.ndarray, detections: list[Detection]) -> np.ndarray:
    """A copy of the BGR image with each box, its class name and score; lowest scores drawn first."""
    import cv2

    canvas = image.copy()
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    scale = max(0.4, min(canvas.shape[:2]) / 900)
    for det in sorted(detections, key=lambda d: d.score):
        colour = class_colour(det.class_id)
        x1, y1, x2, y2 = (int(round(v)) for v in det.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        label = f"{det.name} {det.score:.2f}"
        (w, h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = y1 - h - base - 2 if y1 - h - base - 2 >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + w + 2, top + h + base + 2), colour, -1)
        cv2.putText(canvas, label, (x1 + 1, top + h + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def write_image(path: str | Path, image: np.ndarray) -> Path:
    import cv2

    path = Path(path)
    with atomic_path(path) as tmp:
        ok, encoded = cv2.imencode(path.suffix or ".png", image)
        if not ok:
            raise ValueError(f"OpenCV cannot encode {path.suffix!r} images")
        tmp.write_bytes(encoded.tobytes())
    return path
