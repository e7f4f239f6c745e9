"""`yolo10port onnx`: YOLOv10's one-to-one head as an ONNX graph, by ultralytics' own exporter, proven before use.

ultralytics 8.4 exports YOLOv10's NMS-free one-to-one head only with `nms=False`; its default re-selects the
one-to-many head (raw predictions for NMS). The network is built from the safely read weights (reference_network),
never by unpickling the user's file, and ultralytics' `Exporter` is driven with that model object, so the file is
exactly what `yolo export format=onnx nms=False` writes: BatchNorm folded, onnxslim-simplified, node names that keep
the module paths (`/model.10/attn/qkv/conv/Conv`). It is written atomically, then run by ONNX Runtime against a
reference dump of the same weights before the export is declared good.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

from yolo10port.atomic import atomic_path
from yolo10port.compare import Report, diff_dumps
from yolo10port.dumps.spec import RunSpec, check_imgsz
from yolo10port.errors import InputError
from yolo10port.reference.dump import dump_reference, weights_of
from yolo10port.reference.network import keep_torch_threads, reference_network
from yolo10port.weights.reader import Weights

VERIFY_INPUT = "random:0"  # not all-ones: its identical channels hide a channel-order bug in the graph
MIN_OPSET = 9  # ultralytics' floor for a detection export without NMS (nearest Upsample)


def max_opset() -> int:
    """The highest opset both torch's TorchScript exporter (which ultralytics drives) and the onnx package know."""
    import onnx

    try:
        from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET as torch_max
    except ImportError:  # a torch that moved its constants: let the exporter judge
        torch_max = onnx.defs.onnx_opset_version()
    return min(torch_max, onnx.defs.onnx_opset_version())


def check_opset(opset: int | None) -> None:
    if opset is not None and not MIN_OPSET <= opset <= max_opset():
        raise InputError("--opset", f"{opset} is outside the opsets this export supports ({MIN_OPSET}–{max_opset()})")


def export_onnx(
    weights: Weights | str | Path,
    out: str | Path,
    imgsz: int = 640,
    opset: int | None = None,
    dynamic: bool = False,
    simplify: bool = True,
) -> Path:
    """Export `weights` (one-to-one head) to `out` with ultralytics' exporter; static 1×3×imgsz×imgsz unless
    `dynamic` (batch, height and width free). `opset` None = ultralytics' choice for the installed torch."""
    from ultralytics.engine.exporter import Exporter

    from yolo10port.reference.fixture import quiet_ultralytics

    weights = weights_of(weights)
    check_imgsz(imgsz)
    check_opset(opset)
    out = Path(out)
    model = reference_network(weights)
    model.task = "detect"  # what YOLO() sets from a checkpoint; the exporter reads it
    if weights.names:
        model.names = dict(weights.names)
    overrides = {
        "format": "onnx",
        "nms": False,  # ultralytics 8.4's switch for YOLOv10's NMS-free one-to-one head
        "imgsz": imgsz,
        "batch": 1,
        "opset": opset,
        "dynamic": dynamic,
        "simplify": simplify,
        "device": "cpu",
        "verbose": False,
        "mode": "export",
    }
    with tempfile.TemporaryDirectory(prefix="yolo10port-onnx-") as scratch:
        # The exporter writes beside the file the model was loaded from: point it at a scratch folder.
        model.pt_path = str(Path(scratch) / f"{out.stem or 'model'}.pt")
        try:
            with keep_torch_threads(), quiet_ultralytics(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python code in the head
                exported = Exporter(overrides=overrides)(model=model)
        except AssertionError as error:  # the exporter's own argument checks, e.g. an opset out of range
            raise InputError(
                "--opset" if "opset" in str(error) else "MODEL", f"ultralytics' exporter: {error}"
            ) from None
        with atomic_path(out) as tmp:
            shutil.copyfile(exported, tmp)
    return out


def verify_onnx(weights: Weights | str | Path, graph: str | Path, imgsz: int = 640) -> Report:
    """Run `graph` with ONNX Runtime and diff it against the reference dump of `weights` on random:0 at `imgsz`
    (default rule: the reference's noise floor); isolated error included, so a breach names its module."""
    from yolo10port.candidates.graph import GraphCandidate

    weights = weights_of(weights)
    spec = RunSpec(input=VERIFY_INPUT, imgsz=imgsz)
    candidate = GraphCandidate.open(graph, "onnxruntime")
    with tempfile.TemporaryDirectory(prefix="yolo10port-onnx-check-") as scratch:
        reference = dump_reference(weights, Path(scratch) / "reference.safetensors", spec.but(with_inputs=True))
        dumped = candidate.dump(Path(scratch) / "onnxruntime.safetensors", spec)
        report = diff_dumps(reference, dumped)
        candidate.attach_isolated(report, reference)
    report.labels = {"reference": f"ultralytics reference of {weights.path.name}", "candidate": candidate.label}
    report.notes.extend(candidate.notes)
    return report
