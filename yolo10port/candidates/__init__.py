"""Candidates: every way of producing a dump of the port under test, side by side, behind one interface.

- `clean`: the clean PyTorch reimplementation (yolo10port.model), run from the exported weights;
- `onnxruntime`, `openvino`: an ONNX graph (ultralytics' export or `yolo10port onnx`, or the user's own file)
  run by ONNX Runtime or OpenVINO, its node outputs mapped back to module paths.

None of them imports ultralytics: exporting an ONNX graph is the reference side's job (reference/onnx_export.py).
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.candidates.base import Candidate
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.weights.reader import Weights

KINDS = ("clean", "onnxruntime", "openvino")


def make_candidate(
    kind: str,
    weights: Weights,
    files: dict[str, Path],
    fuse: bool = False,
    spec: RunSpec = RunSpec(),
    precision: str = "float32",
) -> Candidate:
    """The candidate `kind` names: clean | onnxruntime | openvino | a path to an .onnx file (run by ONNX Runtime).

    `files["weights"]` is the exported weights the clean model loads; an ONNX graph is exported into the same
    folder when none is given. `precision` is what the candidate is asked to compute in (the clean model's dtype
    comes from `spec`; winograd and, on a CPU, tf32 are computed by dumps/reduced.py; a graph is converted to
    float16 for ONNX Runtime, OpenVINO gets the hint); each records what it truly ran.
    """
    if kind == "clean":
        from yolo10port.candidates.clean import CleanCandidate

        arithmetic = {"winograd": "winograd", "winograd-f43": "winograd-f43"}.get(precision)
        if precision == "tf32" and not spec.tf32:
            arithmetic = "tf32-emulated"  # a CPU has no TF32: emulated, as the reference's tf32 floor is
        return CleanCandidate.load(files["weights"], fuse=fuse, arithmetic=arithmetic)
    if kind in ("onnxruntime", "openvino") or kind.endswith(".onnx"):
        from yolo10port.candidates.graph import graph_candidate

        return graph_candidate(kind, weights, files, spec, precision)
    raise InputError("--candidate", f"{kind!r} is not one of {', '.join(KINDS)} nor a path to an .onnx file")
