"""Candidates: every way of producing a dump of the port under test, side by side, behind one interface.

- `clean`: the clean PyTorch reimplementation (yolo10port.model), run from the exported weights;
- `ncnn`: an ncnn model (`yolo10port ncnn`'s export, or a given folder or .param) run by ncnn (candidates/ncnn.py);
- `litert`: a .tflite (ultralytics' LiteRT export, made in its own environment) run by ai-edge-litert;
- `onnxruntime`, `openvino`: an ONNX graph (ultralytics' export or `yolo10port onnx`, or the user's own file)
  run by ONNX Runtime or OpenVINO, its node outputs mapped back to module paths;
- an OpenVINO IR (`model.xml` + `model.bin`, float or with NNCF's FakeQuantize ops) run by OpenVINO
  (candidates/openvino_ir.py), mapped through the ONNX names OpenVINO keeps (candidates/ir_graph.py).

None of them imports ultralytics: exporting an ONNX graph is the reference side's job (reference/onnx_export.py).
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.candidates.base import Candidate
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.weights.reader import Weights

KINDS = ("clean", "onnxruntime", "openvino", "ncnn", "litert")


def is_ncnn_model(kind: str) -> bool:
    path = Path(kind)
    return path.suffix in (".param", ".bin") or (path.is_dir() and any(path.glob("*.param")))


def run_file_candidate(path: Path, runtime: str, options: list[str]):
    """`run FILE --runtime ncnn|litert`: the model file as it is, with the runtime's options (KEY=VALUE)."""
    if runtime == "ncnn":
        from yolo10port.candidates.ncnn import NcnnCandidate, runtime_options

        return NcnnCandidate.open(path, runtime_options(options))
    from yolo10port.candidates.litert import LiteRtCandidate, runtime_options

    return LiteRtCandidate.open(path, runtime_options(options))


def make_candidate(
    kind: str,
    weights: Weights,
    files: dict[str, Path],
    fuse: bool = False,
    spec: RunSpec = RunSpec(),
    runtime_options: list[str] | None = None,
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
    if kind.endswith(".xml"):  # an OpenVINO IR (its .bin beside it): OpenVINO runs it
        from yolo10port.candidates.openvino_ir import ir_candidate

        return ir_candidate(kind, weights, spec, precision)
    if kind in ("onnxruntime", "openvino") or kind.endswith(".onnx"):
        from yolo10port.candidates.graph import graph_candidate

        return graph_candidate(kind, weights, files, spec, precision)
    if kind == "ncnn" or is_ncnn_model(kind):
        from yolo10port.candidates.ncnn import ncnn_candidate
        from yolo10port.candidates.ncnn import runtime_options as ncnn_options

        return ncnn_candidate(kind, weights, files, spec, ncnn_options(runtime_options or []))
    if kind == "litert":
        from yolo10port.candidates.litert import exported_model

        kind = str(exported_model(weights.scale, spec.imgsz))
    if kind.endswith(".tflite"):
        from yolo10port.candidates.litert import litert_candidate
        from yolo10port.candidates.litert import runtime_options as litert_options

        return litert_candidate(kind, weights, spec, litert_options(runtime_options or []))
    raise InputError(
        "--candidate",
        f"{kind!r} is not one of {', '.join(KINDS)} nor a path to an .onnx file, an OpenVINO .xml, an ncnn model "
        "or a .tflite",
    )
