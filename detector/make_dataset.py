"""Generate the synthetic shapes dataset: coloured squares, circles and triangles on noisy backgrounds.

Images and YOLO-format labels (class cx cy w h, normalised) for a train and a held-out val split, plus the
dataset yaml ultralytics trains from. Deterministic: the same seed gives the same files. Offline, numpy + OpenCV.

    python detector/make_dataset.py --out build/shapes --train 400 --val 100 --imgsz 320
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

CLASSES = ["square", "circle", "triangle"]


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour gradient plus pixel noise: shapes must be found by form, not by a flat backdrop."""
    corners = rng.integers(0, 256, size=(2, 2, 3)).astype(np.float32)
    smooth = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
    noise = rng.normal(0, 18, size=(size, size, 3))
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def draw_shape(image: np.ndarray, kind: int, cx: float, cy: float, r: float, colour: tuple, angle: float) -> tuple:
    """Draw one filled shape; return its tight box (x1, y1, x2, y2) in pixels."""
    if kind == 0:  # square, rotated by up to ±20° so that it is not just an axis-aligned box
        box = cv2.boxPoints(((cx, cy), (2 * r, 2 * r), angle)).astype(np.int32)
        cv2.fillPoly(image, [box], colour, lineType=cv2.LINE_AA)
        points = box
    elif kind == 1:  # circle
        cv2.circle(image, (int(round(cx)), int(round(cy))), int(round(r)), colour, -1, lineType=cv2.LINE_AA)
        points = np.array([[cx - r, cy - r], [cx + r, cy + r]])
    else:  # triangle, equilateral, rotated
        theta = np.deg2rad(angle) + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]) - np.pi / 2
        points = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], 1).astype(np.int32)
        cv2.fillPoly(image, [points], colour, lineType=cv2.LINE_AA)
    x1, y1 = points.min(0)
    x2, y2 = points.max(0)
    return float(x1), float(y1), float(x2), float(y2)


def make_image(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[tuple]]:
    image = background(rng, size)
    labels, boxes = [], []
    for _ in range(rng.integers(1, 6)):
        for _attempt in range(20):  # place without heavy overlap
            r = rng.uniform(0.05, 0.16) * size
            cx, cy = rng.uniform(r + 2, size - r - 2, size=2)
            if all(np.hypot(cx - bx, cy - by) > r + br + 4 for bx, by, br in boxes):
                break
        else:
            continue
        kind = int(rng.integers(0, 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x1, y1, x2, y2 = draw_shape(image, kind, cx, cy, r, colour, rng.uniform(-20, 20))
        boxes.append((cx, cy, r))
        labels.append((kind, (x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size))
    return image, labels


def write_split(root: Path, split: str, count: int, size: int, rng: np.random.Generator) -> None:
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, labels = make_image(rng, size)
        cv2.imwrite(str(root / "images" / split / f"{i:04d}.png"), image)
        lines = [f"{k} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for k, cx, cy, w, h in labels]
        (root / "labels" / split / f"{i:04d}.txt").write_text("\n".join(lines) + "\n")


def make_dataset(out: Path, train: int = 400, val: int = 100, imgsz: int = 320, seed: int = 0) -> Path:
    out = out.resolve()
    write_split(out, "train", train, imgsz, np.random.default_rng(seed))
    write_split(out, "val", val, imgsz, np.random.default_rng(seed + 1))  # held out: its own stream
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    yaml = out / "shapes.yaml"
    yaml.write_text(f"path: {out}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/shapes"))
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_dataset(args.out, args.train, args.val, args.imgsz, args.seed))


if __name__ == "__main__":
    main()
