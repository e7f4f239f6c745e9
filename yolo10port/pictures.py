"""Pictures a person can look at: detections drawn on the image (`detect`), per-layer errors (`diff --plot`)."""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np

from yolo10port.atomic import atomic_path
from yolo10port.compare.engine import Report
from yolo10port.predict import Detection


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


def plot_errors(report: Report, path: str | Path) -> Path:
    """Per-layer max-abs and max-rel error on a log scale, each layer's tolerance, the first failure marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    rows = [row for row in report.layers if row.max_abs is not None]
    names = [row.name for row in rows]
    floor = 1e-12  # log axes cannot show 0 (a bit-exact layer); drawn at the floor, said in the legend
    positions = np.arange(len(rows))

    def values(attribute: str) -> list[float]:
        return [max(getattr(row, attribute) or 0.0, floor) if math.isfinite(getattr(row, attribute) or 0.0)
                else 1e30 for row in rows]  # fmt: skip

    figure, axis = plt.subplots(figsize=(max(8, len(rows) * 0.35), 5), layout="constrained")
    axis.semilogy(positions, values("max_abs"), "o-", label="max-abs error")
    axis.semilogy(positions, values("max_rel"), "s--", label="max-rel (÷ max|ref|)", alpha=0.7)
    axis.semilogy(
        positions, [max(row.limit or 0.0, floor) for row in rows], "k:", label="tolerance (atol + rtol·max|ref|)"
    )
    if report.isolated:
        axis.semilogy(positions, values("isolated_max_abs"), "^", label="isolated max-abs", alpha=0.8)
    first = report.first_failure
    if first in names:
        index = names.index(first)
        axis.axvline(index, color="red", alpha=0.5)
        axis.annotate(f"first failure: {first}", (index, values("max_abs")[index]), color="red",
                      xytext=(8, 8), textcoords="offset points")  # fmt: skip
    axis.set_xticks(positions, names, rotation=90, fontsize=7)
    axis.set_ylabel(f"error (0 drawn at {floor:g})")
    axis.set_title(
        f"{'PASS' if report.passed else 'FAIL'}: {Path(report.candidate).name} vs {Path(report.reference).name}"
    )
    axis.legend(fontsize=8)
    axis.grid(True, which="major", alpha=0.3)
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(figure)
    return path
