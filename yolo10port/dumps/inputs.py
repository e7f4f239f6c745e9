"""Input specs: `ones` (default), `zeros`, `random:SEED`, an image letterboxed as ultralytics' predictor does, or a
dump whose recorded `input` tensor is reused (the way a port is fed exactly what the reference was fed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from yolo10port.dumps.input_source import check_seed, input_of_dump, read_image  # noqa: F401 (re-exported)
from yolo10port.dumps.spec import STRIDE, RunSpec, check_batch, check_imgsz, check_pixels, resolve_input
from yolo10port.errors import InputError
from yolo10port.formats import sha256_file
from yolo10port.safe_io import describe_os_error, regular_file

PAD_VALUE = 114  # ultralytics' letterbox grey


@dataclass
class ModelInput:
    tensor: torch.Tensor  # (B, 3, H, W), RGB in [0, 1]
    spec: str  # canonical description, stored in dump metadata: e.g. "ones:1x3x640x640"
    letterbox: dict | None = None  # for images: ratio and padding, to map boxes back to the original


def letterbox_params(shape: tuple[int, int], imgsz: int, auto: bool) -> dict:
    """Resize ratio and padding exactly as ultralytics' LetterBox computes them (centred, scale-up allowed)."""
    h, w = shape
    ratio = min(imgsz / h, imgsz / w)
    new_w, new_h = max(round(w * ratio), 1), max(round(h * ratio), 1)
    pad_w, pad_h = imgsz - new_w, imgsz - new_h
    if auto:  # the predictor's "minimum rectangle": pad only up to the next multiple of the stride
        pad_w, pad_h = np.mod(pad_w, STRIDE), np.mod(pad_h, STRIDE)
    pad_w, pad_h = pad_w / 2, pad_h / 2
    return {
        "ratio": ratio,
        "new_size": (new_w, new_h),
        "top": round(pad_h - 0.1),
        "bottom": round(pad_h + 0.1),
        "left": round(pad_w - 0.1),
        "right": round(pad_w + 0.1),
    }


def letterbox(image_bgr: np.ndarray, imgsz: int, auto: bool = True) -> tuple[np.ndarray, dict]:
    import cv2

    params = letterbox_params(image_bgr.shape[:2], imgsz, auto)
    if (image_bgr.shape[1], image_bgr.shape[0]) != params["new_size"]:
        image_bgr = cv2.resize(image_bgr, params["new_size"], interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(
        image_bgr,
        params["top"],
        params["bottom"],
        params["left"],
        params["right"],
        cv2.BORDER_CONSTANT,
        value=(PAD_VALUE,) * 3,
    )
    return padded, params


def image_tensor(path: Path, imgsz: int, batch: int, auto: bool = True) -> tuple[torch.Tensor, dict]:
    return array_tensor(read_image(path), imgsz, batch, auto)


def array_tensor(image: np.ndarray, imgsz: int, batch: int = 1, auto: bool = True) -> tuple[torch.Tensor, dict]:
    """(H, W, 3) BGR uint8 → letterboxed (B, 3, h, w) RGB float32 in [0, 1], and the letterbox parameters."""
    padded, params = letterbox(image, imgsz, auto)
    chw = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1).flip(0)  # HWC BGR → CHW RGB
    tensor = chw.float().div(255).unsqueeze(0).repeat(batch, 1, 1, 1)
    params["orig_shape"] = image.shape[:2]
    return tensor, params


def make_input(spec: RunSpec, dtype: torch.dtype = torch.float32) -> ModelInput:
    """The input tensor `spec` describes, in `dtype`, with its canonical description for the dump's metadata."""
    check_imgsz(spec.imgsz)
    check_batch(spec.batch)
    check_pixels(spec.imgsz, spec.batch)
    shape = (spec.batch, 3, spec.imgsz, spec.imgsz)
    dims = "x".join(map(str, shape))
    source = spec.input
    if source == "ones":
        return ModelInput(torch.ones(shape, dtype=dtype), f"ones:{dims}")
    if source == "zeros":
        return ModelInput(torch.zeros(shape, dtype=dtype), f"zeros:{dims}")
    if source.startswith("random:"):
        seed = source.split(":", 1)[1]
        generator = torch.Generator().manual_seed(check_seed(seed))
        return ModelInput(torch.rand(shape, generator=generator).to(dtype), f"random:{seed}:{dims}")
    path = Path(resolve_input(source))
    try:
        exists = path.exists()
    except OSError as error:  # a name longer than NAME_MAX
        raise InputError("--input", f"{source[:80]!r}…: {describe_os_error(error)}") from None
    if not exists:
        raise InputError(
            "--input", f"{source!r} is neither ones, zeros, random:SEED, an existing image file nor a dump"
        )
    if path.is_dir():
        raise InputError(path, "is a directory, not an image")
    regular_file(path, "image or dump")  # a FIFO or a device would block or never end
    if path.suffix == ".safetensors":
        return dump_input(path, dtype)
    tensor, params = image_tensor(path, spec.imgsz, spec.batch, auto=not spec.square)
    digest = sha256_file(path)[:16]
    dims = "x".join(map(str, tensor.shape))
    return ModelInput(tensor.to(dtype), f"image:{path.name}:{digest}:{dims}", params)


def dump_input(path: Path, dtype: torch.dtype) -> ModelInput:
    """The `input` tensor recorded in a dump, and its description: feeds a run exactly what that dump was fed."""
    from yolo10port.dumps.reader import read_dump_metadata

    meta = read_dump_metadata(path)
    array = input_of_dump(path)
    tensor = torch.from_numpy(array).to(dtype)
    spec = meta.get("input") or f"dump:{path.name}:" + "x".join(map(str, tensor.shape))
    return ModelInput(tensor, spec)
