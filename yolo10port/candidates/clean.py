"""The clean PyTorch model as a candidate (`yolo10port run`): same hooks, keys and format as the reference dump."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from yolo10port import __version__
from yolo10port.candidates.clean_isolated import attach_isolated
from yolo10port.compare.engine import Report
from yolo10port.dumps.capture import Recorder, hooked
from yolo10port.dumps.device import TORCH_DTYPES, numerics, torch_device
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.keys import DETECTIONS, HEAD
from yolo10port.dumps.run import stream_dump
from yolo10port.dumps.spec import CANDIDATE_DTYPES, RunSpec
from yolo10port.errors import InputError
from yolo10port.model import LoadError, YOLOv10, postprocess
from yolo10port.weights.reader import Weights, read_weights


def load_clean_model(
    weights: Weights | str | Path, fuse: bool = False, scale: str | None = None, nc: int | None = None
) -> tuple[YOLOv10, Weights]:
    """The clean model for a weights file (or weights already read), loaded strictly; exit-2 errors on mismatch."""
    from yolo10port.model.loading import model_from_weights

    if not isinstance(weights, Weights):
        weights = read_weights(weights)
    try:
        model = model_from_weights(weights, scale, nc)
    except LoadError as error:
        raise InputError(weights.path, str(error)) from None
    if fuse:
        model.fuse()
    return model.eval(), weights


def dump_model(
    model: YOLOv10, weights_sha256: str, out: str | Path, spec: RunSpec = RunSpec(), arithmetic: str | None = None
) -> Path:
    """Dump a loaded clean model (possibly a mutated one: see selftest) for `spec`; `arithmetic` (winograd,
    winograd-f43, tf32-emulated: dumps/reduced.py) computes its convolutions another way. The dump's `precision`
    metadata says what it truly computed in (compare/precision.py picks the reference's floor by it)."""
    from yolo10port.dumps.reduced import arithmetic_context, candidate_precision

    if spec.dtype not in CANDIDATE_DTYPES:
        raise InputError("--dtype", f"{spec.dtype!r} is not one of {', '.join(CANDIDATE_DTYPES)}")
    device = torch_device(spec.device)
    torch_dtype = TORCH_DTYPES[spec.dtype]
    model_input = make_input(spec, torch_dtype)
    model = model.to(device=device, dtype=torch_dtype)
    images = model_input.tensor.to(device)

    def forward(recorder: Recorder) -> None:
        with hooked(model, recorder, spec.depth, with_inputs=spec.with_inputs, within=spec.within):
            with torch.inference_mode(), arithmetic_context(arithmetic):
                decoded = model.decoded(images)
                recorder.record(DETECTIONS, postprocess(decoded, spec.max_det), "postprocess")

    with numerics(device, spec.tf32) as device_meta:
        metadata = {
            "producer": f"yolo10port.model {__version__}",
            "tool": f"yolo10port {__version__}",
            "weights_sha256": weights_sha256,
            "head": HEAD,
            "scale": model.scale_name,
            "nc": str(model.nc),
            "fused": str(model.is_fused).lower(),
            "depth": spec.depth_label,
            **device_meta,
            "precision": candidate_precision(spec.dtype, device_meta.get("tf32_conv") == "true", arithmetic),
        }
        return stream_dump(out, model_input, forward, metadata)


def dump_clean(
    weights: Weights | str | Path,
    out: str | Path,
    spec: RunSpec = RunSpec(),
    fuse: bool = False,
    scale: str | None = None,
    nc: int | None = None,
    arithmetic: str | None = None,
) -> Path:
    model, weights = load_clean_model(weights, fuse=fuse, scale=scale, nc=nc)
    return dump_model(model, weights.source_sha256, out, spec, arithmetic)


@dataclass
class CleanCandidate:
    """The clean reimplementation, loaded once; `mutate` (selftest) may have planted a bug in it."""

    model: YOLOv10
    weights_sha256: str
    kind: str = "clean"
    label: str = "the clean model"
    arithmetic: str | None = None  # winograd | winograd-f43 | tf32-emulated (dumps/reduced.py), None: torch's own

    @classmethod
    def load(cls, weights: Weights | str | Path, fuse: bool = False, arithmetic: str | None = None) -> CleanCandidate:
        model, weights = load_clean_model(weights, fuse=fuse)
        label = f"the clean model{' (fused)' if fuse else ''}"
        label += f" with {arithmetic} arithmetic" if arithmetic else ""
        return cls(model, weights.source_sha256, label=label, arithmetic=arithmetic)

    @property
    def fused(self) -> bool:
        return self.model.is_fused

    def dump(self, out: Path, spec: RunSpec) -> Path:
        return dump_model(self.model, self.weights_sha256, out, spec, self.arithmetic)

    def attach_isolated(self, report: Report, reference: Path) -> int:
        from yolo10port.dumps.reduced import arithmetic_context

        with arithmetic_context(self.arithmetic):  # each module alone, computed as the candidate computes it
            return attach_isolated(report, reference, self.model)
