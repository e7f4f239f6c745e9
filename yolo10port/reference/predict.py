"""ultralytics' own predictor on a checkpoint read safely: its preprocessed input and its final boxes.

The network is built and loaded by reference/network.py (no torch.load of the user's file); ultralytics'
DetectionPredictor then does what `YOLO(...).predict(nms=False)` does — letterbox, inference, end-to-end
filtering, `scale_boxes` to the original image — with the one-to-one head.
"""

from __future__ import annotations

from pathlib import Path

import torch

from yolo10port.reference.network import keep_torch_threads, reference_network
from yolo10port.weights.reader import read_weights


def ultralytics_predict(
    model_path: str | Path,
    image: str | Path,
    imgsz: int = 640,
    conf: float = 0.0,
    max_det: int = 300,
    one_to_one: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the predictor's input tensor (1, 3, h, w), its boxes (N, 6) x1 y1 x2 y2 score class in original pixels).

    `one_to_one=False` shows what ultralytics 8.4 gives by default: the one-to-many head, then NMS.
    """
    with keep_torch_threads():
        return _predict(model_path, image, imgsz, conf, max_det, one_to_one)


def _predict(model_path, image, imgsz, conf, max_det, one_to_one) -> tuple[torch.Tensor, torch.Tensor]:
    from ultralytics.models.yolo.detect import DetectionPredictor

    network = reference_network(read_weights(model_path))
    # The arguments YOLO(...).predict adds to the defaults (rect: the minimal stride-32 rectangle), plus ours.
    overrides = {"mode": "predict", "rect": True, "batch": 1, "save": False, "embed": None, "verbose": False}
    # nms=False is ultralytics 8.4's switch for the NMS-free one-to-one head: with the default (None) its
    # AutoBackend re-selects the one-to-many head before fusing, whatever the network was pinned to.
    overrides |= {
        "nms": False if one_to_one else None,
        "imgsz": imgsz,
        "conf": conf,
        "max_det": max_det,
        "device": "cpu",
    }
    predictor = DetectionPredictor(overrides=overrides)
    predictor.setup_model(network, verbose=False)
    captured: list[torch.Tensor] = []
    preprocess = predictor.preprocess

    def capture(images):
        tensor = preprocess(images)
        captured.append(tensor.detach().clone())
        return tensor

    predictor.preprocess = capture
    results = predictor(source=str(image))
    return captured[0], results[0].boxes.data.detach().clone()
