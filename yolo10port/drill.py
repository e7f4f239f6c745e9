"""Drill-down: when a top-level layer fails, look at every module inside it and name the first one that is wrong.

`check --drill` re-runs both sides hooked at every depth inside the failing layer, reference inputs recorded, and
measures each module's isolated error; the culprit is the first module (in execution order, which puts children
before their parent) whose own error breaches tolerance: the innermost, earliest wrong module, e.g.
`model.10.attn` when the attention's own arithmetic is wrong although qkv, pe and proj are right.
`diff --drill` (compare/drill.py) works on two existing depth-all dumps instead: chained error only.
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.compare import Report, Tolerances, diff_dumps
from yolo10port.compare.drill import failing_layer
from yolo10port.compare.isolated import attach_isolated
from yolo10port.model import YOLOv10
from yolo10port.reference.dump import dump_reference
from yolo10port.runner import dump_model


def drill_with_model(
    report: Report,
    model_path: str | Path,
    model: YOLOv10,
    weights_sha256: str,
    folder: Path,
    input_spec: str,
    imgsz: int,
    batch: int,
    tolerances: Tolerances | None,
    dtype: str = "float32",
) -> Report | None:
    layer = failing_layer(report)
    if layer is None:
        return None
    reference = folder / "drill.reference.safetensors"
    candidate = folder / "drill.clean.safetensors"
    common = {"input_spec": input_spec, "imgsz": imgsz, "batch": batch, "depth": None, "within": layer}
    # The reference gets the candidate's structure (fused or not) so that every submodule path exists on both.
    dump_reference(model_path, reference, fuse=model.is_fused, with_inputs=True, **common)
    dump_model(model, weights_sha256, candidate, dtype=dtype, **common)
    drill = diff_dumps(reference, candidate, layer, tolerances)
    attach_isolated(drill, reference, model)
    return drill
