"""`yolo10port run`: the clean model's dump, with the same hooks, keys and format as the reference dump."""

from __future__ import annotations

from pathlib import Path

import torch

from yolo10port import __version__
from yolo10port.dumps.capture import Recorder, hooked
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.run import stream_dump
from yolo10port.errors import InputError
from yolo10port.model import LoadError, YOLOv10, postprocess
from yolo10port.reference.dump import DTYPES, HEAD
from yolo10port.weights.reader import read_weights

# The clean model also runs in half precision, to see what a float16/bfloat16 port costs (check --tol auto).
CLEAN_DTYPES = {**DTYPES, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_clean_model(
    weights_path: str | Path, fuse: bool = False, scale: str | None = None, nc: int | None = None
) -> tuple[YOLOv10, object]:
    from yolo10port.model.loading import model_from_weights

    weights = read_weights(weights_path)
    try:
        model = model_from_weights(weights, scale, nc)
    except LoadError as error:
        raise InputError(weights_path, str(error)) from None
    if fuse:
        model.fuse()
    return model.eval(), weights


def dump_clean(
    weights_path: str | Path,
    out: str | Path,
    input_spec: str = "ones",
    imgsz: int = 640,
    batch: int = 1,
    depth: int | None = 1,
    dtype: str = "float32",
    fuse: bool = False,
    scale: str | None = None,
    nc: int | None = None,
    max_det: int = 300,
) -> Path:
    model, weights = load_clean_model(weights_path, fuse=fuse, scale=scale, nc=nc)
    return dump_model(model, weights.source_sha256, out, input_spec, imgsz, batch, depth, dtype, max_det)


def dump_model(
    model: YOLOv10,
    weights_sha256: str,
    out: str | Path,
    input_spec: str = "ones",
    imgsz: int = 640,
    batch: int = 1,
    depth: int | None = 1,
    dtype: str = "float32",
    max_det: int = 300,
    within: str | None = None,
) -> Path:
    """Dump a loaded clean model (possibly a mutated one: see selftest); `within` limits hooks to one subtree."""
    torch_dtype = CLEAN_DTYPES[dtype]
    model_input = make_input(input_spec, imgsz, batch, torch_dtype)
    model = model.to(torch_dtype)

    def forward(recorder: Recorder) -> None:
        with hooked(model, recorder, depth, within=within), torch.inference_mode():
            decoded = model.decoded(model_input.tensor)
            recorder.record("detections", postprocess(decoded, max_det), "postprocess")

    metadata = {
        "producer": f"yolo10port.model {__version__}",
        "tool": f"yolo10port {__version__}",
        "weights_sha256": weights_sha256,
        "head": HEAD,
        "scale": model.scale_name,
        "nc": str(model.nc),
        "fused": str(model.is_fused).lower(),
        "depth": "all" if depth is None else str(depth),
    }
    return stream_dump(out, model_input, forward, metadata)
