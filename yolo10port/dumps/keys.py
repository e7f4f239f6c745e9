"""The dump's key conventions, in one torch-free place shared by the producers and by compare/.

`input` is the exact input tensor; `model.N…` are module paths; `<path>@input` a module's recorded input;
`model.23` the decoded one-to-one prediction (B, 4 + nc, anchors), judged as two rows, boxes and scores;
`detections` the post-processed (B, max_det, 6).
"""

from __future__ import annotations

import re

import numpy as np

HEAD = "one2one"  # the head every dump holds: YOLOv10's NMS-free one-to-one branch
INPUT = "input"
DECODED_HEAD = "model.23"
DETECTIONS = "detections"
INPUT_MARK = "@input"  # `model.10.attn@input`: what a module received, recorded with --with-inputs
TOP_LEVEL_LAYERS = 24  # model.0 … model.23
BOX_SIDES = 4  # x1, y1, x2, y2 before the class scores in the decoded head


def is_input_key(key: str) -> bool:
    return INPUT_MARK in key


def top_level_index(key: str) -> int | None:
    """`model.10.attn.qkv` → 10, `model.9.m#2` → 9, `model.23/scores` → 23; `detections` belongs to the head."""
    if key == DETECTIONS:
        return TOP_LEVEL_LAYERS - 1
    match = re.match(r"model\.(\d+)(?=$|[./#])", key)
    return int(match.group(1)) if match else None


def is_decoded_head(key: str, shape: tuple[int, ...]) -> bool:
    return key == DECODED_HEAD and len(shape) == 3 and shape[1] > BOX_SIDES


def rows_of(key: str, array: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The rows a key is judged as: itself, or for the decoded head its boxes (pixels) and its class scores
    (probabilities), each on its own scale: one limit over both would let a class-score bug hide under boxes of
    hundreds of pixels."""
    if is_decoded_head(key, array.shape):
        return [(f"{key}/boxes", array[:, :BOX_SIDES]), (f"{key}/scores", array[:, BOX_SIDES:])]
    return [(key, array)]


def in_selection(key: str, depth: int | None, within: str | None = None) -> bool:
    """Whether a dump at `depth` (None = every module), inside `within` when given, holds `key`: what every candidate
    that maps a graph to module paths (ONNX, ncnn) selects by. `#k` (a repeated call) does not count as depth."""
    if key == DETECTIONS:
        return within in (None, DECODED_HEAD)
    path = key.split("#")[0]
    if within is not None and path != within and not path.startswith(within + "."):
        return False
    return depth is None or path.count(".") <= depth
