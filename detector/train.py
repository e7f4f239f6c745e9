"""Train the small synthetic-shapes YOLOv10n once, offline on CPU, and write the committed checkpoint.

    python detector/train.py          # ~25 min on 2 CPU cores; writes detector/yolov10n-shapes.pt (+ .json figures)
    python detector/train.py --scale s --epochs 4 --train-images 300 --out build/trained/yolov10s-shapes.pt
                                      # the second trained scale of `make calibrate` (not committed: ~16 MB)

Not run by the tests: they use the committed checkpoint. Settings that keep ultralytics offline: plots=False (no
font download), amp=False (no AMP check download), workers=0, training from the yaml (no pretrained weights).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from make_dataset import make_dataset

HERE = Path(__file__).resolve().parent


def train(
    data_root: Path, epochs: int, imgsz: int, train_images: int, val_images: int, out: Path, scale: str = "n"
) -> dict:
    from ultralytics import YOLO

    data = make_dataset(data_root, train_images, val_images, imgsz)
    start = time.perf_counter()
    model = YOLO(f"yolov10{scale}.yaml")
    model.train(
        data=str(data),
        epochs=epochs,
        imgsz=imgsz,
        batch=16,
        device="cpu",
        workers=0,
        plots=False,
        amp=False,
        seed=0,
        deterministic=True,
        project=str(data_root.parent / "train"),
        name=f"shapes-{scale}",
        exist_ok=True,
        verbose=False,
    )
    minutes = (time.perf_counter() - start) / 60
    best = Path(model.trainer.best)
    shutil.copyfile(best, out)
    # nms=False: measure the NMS-free one-to-one head, the one YOLOv10 deploys (ultralytics 8.4 defaults to NMS).
    metrics = YOLO(str(out)).val(
        data=str(data), imgsz=imgsz, split="val", plots=False, verbose=False, nms=False, project=str(data_root.parent)
    )
    record = {
        "scale": scale,
        "epochs": epochs,
        "imgsz": imgsz,
        "train_images": train_images,
        "val_images": val_images,
        "training_minutes": round(minutes, 1),
        "map50": round(float(metrics.box.map50), 4),
        "map50_95": round(float(metrics.box.map), 4),
        "checkpoint_bytes": out.stat().st_size,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("build/shapes"))
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--train-images", type=int, default=500)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--scale", default="n", choices=list("nsmblx"))
    parser.add_argument("--out", type=Path, default=None, help="default: detector/yolov10<scale>-shapes.pt")
    args = parser.parse_args()
    out = args.out or HERE / f"yolov10{args.scale}-shapes.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    print(train(args.data, args.epochs, args.imgsz, args.train_images, args.val_images, out, args.scale))


if __name__ == "__main__":
    main()
