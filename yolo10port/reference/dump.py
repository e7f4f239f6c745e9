"""`yolo10port dump`: per-layer outputs of the real ultralytics network, captured by forward hooks.

The dump carries its own noise floor by default: the network is run twice, in float32 and in float64, and each
row's largest difference between the two runs is recorded (dumps/run.py), so that `diff` can tell honest float32
rounding from a bug on this very input.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from yolo10port import __version__
from yolo10port.dumps.capture import Recorder, hooked, unshare_modules
from yolo10port.dumps.device import TORCH_DTYPES, numerics, torch_device
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, HEAD, INPUT_MARK
from yolo10port.dumps.run import stream_dump
from yolo10port.dumps.spec import REFERENCE_DTYPES, RunSpec
from yolo10port.errors import InputError
from yolo10port.reference.network import reference_network, ultralytics_version
from yolo10port.weights.reader import Weights, read_weights

DTYPES = {name: TORCH_DTYPES[name] for name in REFERENCE_DTYPES}
TWIN = {"float32": "float64", "float64": "float32"}  # the precision the noise-floor run uses


def is_one_to_many(path: str) -> bool:
    return path.startswith(("model.23.cv2", "model.23.cv3"))


def weights_of(weights: Weights | str | Path) -> Weights:
    return weights if isinstance(weights, Weights) else read_weights(weights)


def dump_reference(
    weights: Weights | str | Path,
    out: str | Path,
    spec: RunSpec = RunSpec(),
    fuse: bool = False,
    summary: str | Path | None = None,
    floor: bool = True,
    floors: tuple[str, ...] = (),
) -> Path:
    """Dump the ultralytics network's outputs for `spec`, with the float64-vs-float32 noise floor unless `floor`
    is False, and one floor per reduced precision in `floors` (float16, bfloat16, tf32, winograd: the network run
    that way, dumps/reduced.py). `spec.with_inputs` adds each module's input (`<path>@input`), which isolated
    error feeds to a candidate's module alone; `spec.within` limits the hooks to one subtree (drill-down).
    """
    weights = weights_of(weights)
    if spec.dtype not in DTYPES:
        raise InputError("--dtype", f"{spec.dtype!r} is not one of {', '.join(DTYPES)} for a reference")
    if spec.tf32:
        raise InputError("--tf32", "references are computed with TF32 off; TF32 is a candidate's choice")
    device = torch_device(spec.device)
    torch_dtype = DTYPES[spec.dtype]
    model_input = make_input(spec, torch_dtype)
    model = reference_network(weights, fuse=fuse, dtype=torch_dtype)
    unshare_modules(model)
    model.to(device)
    model.model[-1].max_det = spec.max_det

    def run(recorder: Recorder, dtype: torch.dtype, arithmetic=contextlib.nullcontext) -> None:
        model.to(dtype)
        with arithmetic():
            run_hooked(model, model_input.tensor.to(device=device, dtype=dtype), recorder, spec)

    twin_dtype = DTYPES[TWIN[spec.dtype]]
    with numerics(device, tf32=False) as device_meta:
        metadata = {
            "producer": ultralytics_version(),
            "tool": f"yolo10port {__version__}",
            "weights_sha256": weights.source_sha256,
            "head": HEAD,
            "scale": weights.scale,
            "nc": str(weights.nc),
            "fused": str(bool(fuse or weights.fused)).lower(),
            "depth": spec.depth_label,
            **device_meta,
        }
        return stream_dump(
            out,
            model_input,
            lambda recorder: run(recorder, torch_dtype),
            metadata,
            summary,
            twin=(lambda recorder: run(recorder, twin_dtype)) if floor else None,
            twin_label=f"the same network in {TWIN[spec.dtype]} on {spec.device}",
            precision_twins={p: (_run_at(run, p), precision_label(p, spec)) for p in floors},
        )


def run_hooked(model, images: torch.Tensor, recorder: Recorder, spec: RunSpec) -> None:
    """One forward of the (unshared) reference network, every selected module's output sent to `recorder` under its
    dump key: what `dump` writes, and what `spec` (the porter's specification) reads the key list from."""
    head = model.model[-1]
    original = head.postprocess

    # The head's own hook would see (detections, raw dict); DESIGN wants the decoded prediction before top-k
    # at `model.23`, which is exactly what postprocess receives (permuted), and `detections`, what it returns.
    def capture(preds: torch.Tensor) -> torch.Tensor:
        if records_head:
            recorder.record(DECODED_HEAD, preds.permute(0, 2, 1), type(head).__name__)
        detections = original(preds)
        recorder.record(DETECTIONS, detections, "postprocess")
        return detections

    def capture_input(_module, inputs) -> None:
        recorder.record(DECODED_HEAD + INPUT_MARK, inputs[0], type(head).__name__)

    records_head = spec.within is None or spec.within == DECODED_HEAD
    head.postprocess = capture
    pre_hook = head.register_forward_pre_hook(capture_input) if spec.with_inputs and records_head else None
    skip = lambda p: p == DECODED_HEAD or is_one_to_many(p)  # noqa: E731
    try:
        with hooked(model, recorder, spec.depth, skip, spec.with_inputs, spec.within), torch.inference_mode():
            model(images)
    finally:
        del head.postprocess
        if pre_hook is not None:
            pre_hook.remove()


def _run_at(run, precision: str):
    return lambda recorder: run(recorder, *precision_run(precision))


def precision_run(precision: str) -> tuple[torch.dtype, object]:
    """(dtype, arithmetic context) of the reference run that measures `precision`'s floor."""
    from yolo10port.dumps.reduced import emulate_tf32, winograd_convolutions

    if precision in ("float16", "bfloat16"):
        return DTYPES.get(precision) or TORCH_DTYPES[precision], contextlib.nullcontext
    if precision == "tf32":
        return torch.float32, emulate_tf32
    if precision == "winograd":
        return torch.float32, winograd_convolutions
    raise InputError("--floors", f"{precision!r} has no floor run")


def precision_label(precision: str, spec: RunSpec) -> str:
    """`noise_floor_by@<precision>`: how that floor was measured."""
    labels = {
        "float16": f"the same network run in float16 on {spec.device}",
        "bfloat16": f"the same network run in bfloat16 on {spec.device}",
        "tf32": f"emulated on {spec.device}: conv and matmul operands rounded to TF32 (10-bit mantissa, nearest "
        "even), float32 accumulation; not compared with a GPU's TF32",
        "winograd": f"the same network in float32 on {spec.device}, its 3×3 stride-1 convolutions by Winograd "
        "F(6,3) (ncnn's matrices)",
    }
    return labels[precision]
