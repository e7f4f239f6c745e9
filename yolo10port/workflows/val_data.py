"""What `val --data` names: a folder of images (YOLO-format labels optional) or an ultralytics data.yaml's val split.

Labels are found as ultralytics finds them: `…/images/…/x.jpg` → `…/labels/…/x.txt`, else `x.txt` beside the image.
Each line is `class cx cy w h`, normalised to the image (a longer line is a polygon: its bounding box is used, as
ultralytics does for detection). When no image has a label file the dataset is unlabelled: val then compares
detections only, without mAP. numpy only (the light install reads golden folders with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo10port.errors import InputError

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")  # what OpenCV reads everywhere


@dataclass
class Dataset:
    source: str  # what --data said, and where the val split is
    images: list[Path]
    labels: list[np.ndarray] | None  # per image (n, 5) class cx cy w h normalised; None: no labels at all
    names: dict[int, str]

    @property
    def stems(self) -> list[str]:
        return [image.stem for image in self.images]


def label_path(image: Path) -> Path:
    """ultralytics' img2label_paths (the last `/images/` of the path becomes `/labels/`, the suffix `.txt`) when
    that file exists, else the `.txt` beside the image."""
    parts = list(image.parts)
    if "images" in parts[:-1]:
        index = len(parts) - 2 - parts[:-1][::-1].index("images")
        parts[index] = "labels"
        mirrored = Path(*parts).with_suffix(".txt")
        if mirrored.is_file():
            return mirrored
    return image.with_suffix(".txt")


def read_labels(path: Path) -> np.ndarray:
    """(n, 5) class cx cy w h from a YOLO-format txt; a polygon line becomes its bounding box."""
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise InputError(path, f"line {number} is not numbers: {line[:60]!r}") from None
        if len(values) == 5:
            rows.append(values)
        elif len(values) >= 7 and len(values) % 2 == 1:  # class x1 y1 x2 y2 … (a segment)
            xs, ys = np.array(values[1::2]), np.array(values[2::2])
            x1, x2, y1, y2 = xs.min(), xs.max(), ys.min(), ys.max()
            rows.append([values[0], (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        else:
            raise InputError(path, f"line {number} has {len(values)} numbers; YOLO labels have 5 (class cx cy w h)")
    labels = np.array(rows, dtype=np.float64).reshape(-1, 5)
    classes = labels[:, 0]
    if labels.size and ((classes < 0).any() or (classes >= 10_000).any() or (classes != np.round(classes)).any()):
        raise InputError(path, "holds a class that is not a class id (an integer in 0…9999)")
    return labels


def labels_in_pixels(labels: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(n, 5) class cx cy w h normalised → class x1 y1 x2 y2 in pixels of an image of shape `image_hw`."""
    h, w = image_hw
    cls, cx, cy, bw, bh = (labels[:, i] for i in range(5))
    return np.stack([cls, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], 1)


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _from_yaml(path: Path) -> tuple[list[Path], dict[int, str], str]:
    try:
        import yaml
    except ModuleNotFoundError:
        raise InputError(path, "reading a data.yaml needs PyYAML; give the val images folder instead") from None
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InputError(path, f"is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(config, dict) or "val" not in config:
        raise InputError(path, "has no 'val' entry (an ultralytics data.yaml names its val split)")
    root = Path(config.get("path") or path.parent)
    root = root if root.is_absolute() else (path.parent / root)
    names = config.get("names") or {}
    names = dict(enumerate(names)) if isinstance(names, list) else {int(k): str(v) for k, v in names.items()}
    splits = config["val"] if isinstance(config["val"], list) else [config["val"]]
    images: list[Path] = []
    for split in splits:
        where = Path(str(split))
        where = where if where.is_absolute() else root / where
        if where.is_dir():
            images += images_in(where)
        elif where.is_file() and where.suffix == ".txt":  # a list of image paths, relative to the yaml's root
            for line in where.read_text().splitlines():
                if line.strip():
                    item = Path(line.strip())
                    images.append(item if item.is_absolute() else (root / item).resolve())
        else:
            raise InputError(path, f"its val split {where} is neither a folder nor a .txt list of images")
    return images, names, f"{path} (val: {', '.join(map(str, splits))})"


def load_dataset(data: Path) -> Dataset:
    """The images and (if any) labels `--data` names; InputError for a missing, empty or ambiguous dataset."""
    if not data.exists():
        raise InputError(data, "no such file or folder")
    if data.is_dir():
        images, names, source = images_in(data), {}, str(data)
    elif data.suffix in (".yaml", ".yml"):
        images, names, source = _from_yaml(data)
    else:
        raise InputError(data, "--data takes a folder of images or an ultralytics data.yaml")
    if not images:
        raise InputError(data, f"holds no images ({', '.join(IMAGE_SUFFIXES)})")
    seen: dict[str, Path] = {}
    for image in images:
        if image.stem in seen:  # dumps and thumbnails are named by stem: two images must not share one
            raise InputError(data, f"two images share the name {image.stem!r}: {seen[image.stem]} and {image}")
        seen[image.stem] = image
    files = [label_path(image) for image in images]
    if not any(f.is_file() for f in files):
        return Dataset(source, images, None, names)
    labels = [read_labels(f) if f.is_file() else np.zeros((0, 5)) for f in files]
    return Dataset(source, images, labels, names)
