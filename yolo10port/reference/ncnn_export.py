"""`yolo10port ncnn`: YOLOv10's one-to-one head as an ncnn model, through pnnx as ultralytics does, proven before use.

ultralytics 8.4's ncnn export drops YOLOv10's end2end branch ("this export format does not support end2end
models"): ncnn has no top-k, so the file holds the one-to-many head, made for NMS. Here the network built from the
safely read weights (reference_network, fused, one-to-one head pinned) is traced with its head returning the decoded
one-to-one prediction (B, 4 + nc, anchors) — `model.23` of every dump — and top-k is left to the host. pnnx (the
version ultralytics pins) converts the trace, as ultralytics' `torch2ncnn` does; the folder is laid out like
ultralytics' (`model.ncnn.param`, `model.ncnn.bin`, `metadata.yaml`), written whole or not at all, then run by ncnn
against a reference dump of the same weights before the export is declared good.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from yolo10port.candidates.ncnn_map import EXPORT_MARKER  # metadata.yaml's first line: a folder to replace
from yolo10port.compare import Report, diff_dumps
from yolo10port.dumps.spec import RunSpec, check_imgsz
from yolo10port.errors import InputError
from yolo10port.reference.dump import dump_reference, weights_of
from yolo10port.reference.network import keep_torch_threads, reference_network
from yolo10port.weights.reader import Weights

VERIFY_INPUT = "random:0"
# Proving the file, not the kernel: Winograd's F(6,3) transform rounds differently from a direct convolution, by more
# than the float32 floor on some inputs (README, "ncnn and LiteRT"); the check runs ncnn with it off.
VERIFY_OPTIONS = {"use_winograd_convolution": False}


def is_ours(folder: Path) -> bool:
    meta = folder / "metadata.yaml"
    return meta.is_file() and meta.read_text(encoding="utf-8", errors="replace").startswith(EXPORT_MARKER)


def check_output_folder(out: Path) -> None:
    """The export's folder may be new, or one this command wrote before; never anything else."""
    if out.exists() and not (out.is_dir() and is_ours(out)):
        raise InputError(out, "exists and is not an ncnn export written by yolo10port: choose another -o")
    if not out.parent.is_dir():
        raise InputError(out, f"output folder {out.parent} does not exist")


def _metadata(weights: Weights, shape: tuple[int, int]) -> str:
    import pnnx
    import torch

    names = dict(weights.names) if weights.names else {i: f"class{i}" for i in range(weights.nc)}
    lines = [
        f"{EXPORT_MARKER}: YOLOv10's one-to-one head decoded (B, 4 + nc, anchors), top-k left to the host",
        f"description: YOLOv10-{weights.scale} one-to-one head from {weights.path.name}",
        "task: detect",
        "end2end: true",
        "head: one2one",
        "output: decoded (4 + nc) x anchors, boxes xyxy in input pixels, scores after sigmoid; no top-k",
        f"weights_sha256: {weights.source_sha256}",
        f"imgsz: [{shape[0]}, {shape[1]}]",
        "batch: 1",
        f"pnnx: '{pnnx.__version__}'",
        f"torch: '{torch.__version__}'",
        "names:",
        *[f"  {i}: {json_str(name)}" for i, name in names.items()],
    ]
    return "\n".join(lines) + "\n"


def json_str(text: str) -> str:
    import json

    return json.dumps(str(text))  # a YAML flow scalar: quotes and escapes, whatever the class name holds


def export_ncnn(
    weights: Weights | str | Path, out: str | Path, imgsz: int = 640, shape: tuple[int, int] | None = None
) -> Path:
    """Export `weights` (one-to-one head, decoded, no top-k) as an ncnn model folder `out`, static 1×3×imgsz×imgsz
    (or 1×3×H×W for `shape`: the rectangle an image letterboxes to). ncnn's Reshape layers keep the traced sizes."""
    import pnnx
    import torch

    weights = weights_of(weights)
    check_imgsz(imgsz)
    out = Path(out).absolute()  # the export runs in its scratch folder (chdir): a relative path would move with it
    check_output_folder(out)
    model = reference_network(weights, fuse=True)
    head = model.model[-1]
    head.export = True  # the head returns its prediction alone, as in any ultralytics export
    head.postprocess = lambda preds: preds.permute(0, 2, 1)  # undo the head's permute: (B, 4 + nc, A), no top-k
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    shape = shape or (imgsz, imgsz)
    for side in shape:
        check_imgsz(side)
    example = torch.zeros(1, 3, *shape)
    with torch.no_grad():
        model(example)  # the head caches its anchors on a first call: the trace then sees the same graph twice
    with tempfile.TemporaryDirectory(prefix=".ncnn-export-", dir=out.parent) as scratch:
        work = Path(scratch)
        files = {
            "ptpath": work / "model.pt",
            "pnnxparam": work / "model.pnnx.param",
            "pnnxbin": work / "model.pnnx.bin",
            "pnnxpy": work / "model_pnnx.py",
            "pnnxonnx": work / "model.pnnx.onnx",
            "ncnnparam": work / "model" / "model.ncnn.param",
            "ncnnbin": work / "model" / "model.ncnn.bin",
            "ncnnpy": work / "model_ncnn.py",
        }
        (work / "model").mkdir()
        cwd = os.getcwd()
        try:
            os.chdir(work)  # pnnx leaves debug files in the working folder
            with keep_torch_threads(), warnings.catch_warnings(), _quiet(work / "pnnx.log"):
                warnings.simplefilter("ignore")  # tracer warnings about the head's shape-dependent Python
                pnnx.export(model, inputs=example, **{k: v.as_posix() for k, v in files.items()}, fp16=False)
        finally:
            os.chdir(cwd)
        if not files["ncnnparam"].is_file():
            lines = (work / "pnnx.log").read_text(errors="replace").strip().splitlines() or ["(no output)"]
            raise InputError(out, f"pnnx wrote no ncnn model; its last line: {lines[-1][:200]}")
        (work / "model" / "metadata.yaml").write_text(_metadata(weights, shape), encoding="utf-8")
        old = None
        if out.exists():  # ours (checked above): moved aside, removed once the new one is in place
            old = work / "previous"
            os.replace(out, old)
        os.replace(work / "model", out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


@contextlib.contextmanager
def _quiet(log: Path):
    """pnnx prints its passes from C++ on stdout and stderr: both file descriptors go to `log` for the export (its
    last line is quoted if the export fails)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "wb") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def verify_ncnn(weights: Weights | str | Path, folder: str | Path, imgsz: int = 640) -> Report:
    """Run the export with ncnn (Winograd off: see VERIFY_OPTIONS) and diff it against the reference dump of
    `weights` on random:0; isolated error included, so a breach names its module."""
    from yolo10port.candidates.ncnn import NcnnCandidate, check_against_weights

    weights = weights_of(weights)
    spec = RunSpec(input=VERIFY_INPUT, imgsz=imgsz)
    candidate = NcnnCandidate.open(folder, VERIFY_OPTIONS)
    check_against_weights(candidate, weights)
    with tempfile.TemporaryDirectory(prefix="yolo10port-ncnn-check-") as scratch:
        reference = dump_reference(weights, Path(scratch) / "reference.safetensors", spec.but(with_inputs=True))
        dumped = candidate.dump(Path(scratch) / "ncnn.safetensors", spec)
        report = diff_dumps(reference, dumped)
        candidate.attach_isolated(report, reference)
    report.labels = {"reference": f"ultralytics reference of {weights.path.name}", "candidate": candidate.label}
    report.notes.extend(candidate.notes)
    return report
