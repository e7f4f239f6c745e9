"""Thumbnails of val's worst images: the reference's boxes on the left, the candidate's on the right (OpenCV).

Boxes both sides agree on are drawn in their class colour; a reference box the candidate lost or moved, and a
candidate box the reference does not have, in red, so the difference is seen at a glance in a CI summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo10port.atomic import check_output_path
from yolo10port.compare.dataset import ImageDiff
from yolo10port.errors import InputError

THUMBNAIL_WIDTH = 320  # per side
RED = (40, 40, 230)  # BGR


def _panel(image: np.ndarray, rows: np.ndarray, statuses: list[str], title: str, names: dict[int, str]) -> np.ndarray:
    import cv2

    from yolo10port.workflows.detect import class_colour

    scale = THUMBNAIL_WIDTH / image.shape[1]
    canvas = cv2.resize(image, (THUMBNAIL_WIDTH, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    for row, status in zip(rows, statuses):
        x1, y1, x2, y2 = (int(round(v * scale)) for v in row[:4])
        cls = int(row[5])
        colour = RED if status in ("lost", "shifted", "gained") else class_colour(cls)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2 if colour == RED else 1, cv2.LINE_AA)
        label = f"{names.get(cls, cls)} {row[4]:.2f}" + ("" if colour != RED else f" {status}")
        cv2.putText(canvas, label, (x1 + 1, max(y1 - 3, 9)), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)
    bar = np.full((16, canvas.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(bar, title, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, canvas])


def write_thumbnails(
    folder: Path, diffs: list[ImageDiff], rows: dict, conf: float, names: dict[int, str], inputs: list[Path]
) -> dict[str, str]:
    """One PNG per image in `diffs` (`<stem>.png` in `folder`, created if missing); returns stem → path."""
    from yolo10port.dumps.inputs import read_image
    from yolo10port.workflows.detect import write_image

    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "--images is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for diff in diffs:
        if diff.name not in rows:
            continue
        path = folder / f"{diff.name}.png"
        check_output_path(path, Path(diff.image), *inputs)
        image = read_image(diff.image)
        ref, cand = (r[r[:, 4] > conf] for r in rows[diff.name])
        left = _panel(image, ref, diff.reference_status, "reference", names)
        right = _panel(image, cand, diff.candidate_status, "candidate", names)
        gap = np.full((left.shape[0], 6, 3), 255, dtype=np.uint8)
        write_image(path, np.hstack([left, gap, right]))
        written[diff.name] = str(path)
    return written
