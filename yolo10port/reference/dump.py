"""`yolo10port dump`: per-layer outputs of the real ultralytics network, captured by forward hooks."""

from __future__ import annotations

from pathlib import Path

import torch

from yolo10port import __version__
from yolo10port.dumps.capture import INPUT_MARK, Recorder, hooked, unshare_modules
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.run import stream_dump
from yolo10port.reference.network import reference_network, ultralytics_version
from yolo10port.weights.reader import read_weights

DTYPES = {"float32": torch.float32, "float64": torch.float64}
HEAD = "one2one"


def is_one_to_many(path: str) -> bool:
    return path.startswith(("model.23.cv2", "model.23.cv3"))


def dump_reference(
    model_path: str | Path,
    out: str | Path,
    input_spec: str = "ones",
    imgsz: int = 640,
    batch: int = 1,
    depth: int | None = 1,
    dtype: str = "float32",
    fuse: bool = False,
    summary: str | Path | None = None,
    max_det: int = 300,
    with_inputs: bool = False,
    within: str | None = None,
) -> Path:
    """Dump the ultralytics network's outputs; `with_inputs` adds each module's input (`<path>@input`), which
    `check` feeds to the clean model's module alone to measure isolated error; `within` limits hooks to a subtree.
    """
    weights = read_weights(model_path)
    torch_dtype = DTYPES[dtype]
    model_input = make_input(input_spec, imgsz, batch, torch_dtype)
    model = reference_network(weights, fuse=fuse, dtype=torch_dtype)
    weights.state_dict = {}  # loaded into the network: the checkpoint's copy need not stay in memory
    unshare_modules(model)
    head = model.model[-1]
    head.max_det = max_det

    def forward(recorder: Recorder) -> None:
        original = head.postprocess

        # The head's own hook would see (detections, raw dict); DESIGN wants the decoded prediction before top-k
        # at `model.23`, which is exactly what postprocess receives (permuted), and `detections`, what it returns.
        def capture(preds: torch.Tensor) -> torch.Tensor:
            if records_head:
                recorder.record("model.23", preds.permute(0, 2, 1), type(head).__name__)
            detections = original(preds)
            recorder.record("detections", detections, "postprocess")
            return detections

        def capture_input(_module, inputs) -> None:
            recorder.record("model.23" + INPUT_MARK, inputs[0], type(head).__name__)

        records_head = within is None or within == "model.23"
        head.postprocess = capture
        pre_hook = head.register_forward_pre_hook(capture_input) if with_inputs and records_head else None
        skip = lambda p: p == "model.23" or is_one_to_many(p)  # noqa: E731
        try:
            with hooked(model, recorder, depth, skip, with_inputs, within):
                with torch.inference_mode():
                    model(model_input.tensor)
        finally:
            del head.postprocess
            if pre_hook is not None:
                pre_hook.remove()

    metadata = {
        "producer": ultralytics_version(),
        "tool": f"yolo10port {__version__}",
        "weights_sha256": weights.source_sha256,
        "head": HEAD,
        "scale": weights.scale,
        "nc": str(weights.nc),
        "fused": str(bool(fuse or weights.fused)).lower(),
        "depth": "all" if depth is None else str(depth),
    }
    return stream_dump(out, model_input, forward, metadata, summary)
