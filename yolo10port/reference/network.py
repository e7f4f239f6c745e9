"""Build the real ultralytics YOLOv10 for a checkpoint, load its tensors (read safely), pin the one-to-one head."""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics must never try the network from here

import torch  # noqa: E402

from yolo10port.errors import InputError  # noqa: E402
from yolo10port.weights.reader import Weights  # noqa: E402


@contextlib.contextmanager
def keep_torch_threads():
    """Undo ultralytics' global side effect: its select_device() sets torch's thread count to cpu_count − 1 (one
    thread on a 2-core machine), which slows everything after it and changes the bits of multi-threaded reductions
    (a fixture built afterwards differed from one built before in 125 of 595 tensors)."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def ultralytics_version() -> str:
    import ultralytics

    return f"ultralytics {ultralytics.__version__}"


def build_network(scale: str, nc: int):
    """An untrained ultralytics DetectionModel from the bundled yolov10{scale}.yaml with `nc` classes."""
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    cfg = yaml_model_load(f"yolov10{scale}.yaml")
    cfg["nc"], cfg["scale"] = nc, scale
    return DetectionModel(cfg, nc=nc, verbose=False)


def pin_one_to_one(model) -> None:
    """ultralytics 8.4 runs YOLOv10's one-to-many head + NMS by default; YOLOv10 inference is the one-to-one head."""
    head = model.model[-1]
    if getattr(head, "one2one_cv2", None) is None:
        raise ValueError("this network has no one-to-one head to pin")
    head.end2end = True


def fuse_network(model) -> None:
    pin_one_to_one(model)  # fuse() drops the head that is not selected, so pin first
    model.fuse(verbose=False)


def reference_network(weights: Weights, fuse: bool = False, dtype: torch.dtype = torch.float32):
    """The ultralytics network for `weights`, in eval mode, one-to-one head pinned; fused if asked or if stored so."""
    model = build_network(weights.scale, weights.nc)
    if weights.fused:
        fuse_network(model)
    try:
        model.load_state_dict(weights.state_dict, strict=True)
    except RuntimeError as error:
        first = str(error).split("\n\t")[1] if "\n\t" in str(error) else str(error)
        raise InputError(weights.path, f"tensors do not fit ultralytics' YOLOv10-{weights.scale}: {first}") from None
    pin_one_to_one(model)
    if fuse and not weights.fused:
        fuse_network(model)
    return model.to(dtype).eval()
