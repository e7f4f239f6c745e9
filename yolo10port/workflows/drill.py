"""Drill-down: when a top-level layer fails, look at every module inside it and name the first one that is wrong.

`check --drill` re-runs both sides hooked at every depth inside the failing layer, reference inputs recorded, and
measures each module's isolated error where the candidate can run one module alone; the culprit is the first module
(in execution order, which puts children before their parent) whose own error breaches tolerance: the innermost,
earliest wrong module, e.g. `model.10.attn` when the attention's own arithmetic is wrong although qkv, pe and proj
are right. The reference is built fused or not like the candidate, so that every submodule path exists on both.
`diff --drill` (compare/drill_rows.py) works on two existing depth-all dumps instead: chained error only.
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.candidates.base import Candidate
from yolo10port.compare import Report, Tolerances, diff_dumps
from yolo10port.compare.drill_rows import failing_layer
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.weights.reader import Weights


def drill_into(
    report: Report, weights: Weights, candidate: Candidate, folder: Path, spec: RunSpec, tolerances: Tolerances | None
) -> Report | None:
    layer = failing_layer(report)
    if layer is None:
        return None
    reference = folder / "drill.reference.safetensors"
    dumped = folder / "drill.candidate.safetensors"
    inside = spec.but(depth=None, within=layer)
    # The floor of the precision the layer was judged by (a Winograd or float16 candidate), so the drill judges alike.
    from yolo10port.workflows.precision import reference_floors

    # An INT8 report has no floor to record: its rows are SQNR diagnosis (a floor named int8 does not exist).
    floors = () if report.quantized else reference_floors(report.tolerance.get("precision", "float32"))
    reference_spec = inside.but(dtype="float32", tf32=False, with_inputs=True)
    dump_reference(weights, reference, reference_spec, fuse=candidate.fused, floors=floors)
    candidate.dump(dumped, inside)
    drill = diff_dumps(reference, dumped, layer, tolerances)
    candidate.attach_isolated(drill, reference)
    drill.labels = report.labels
    return drill
