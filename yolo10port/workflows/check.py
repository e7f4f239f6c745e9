"""`yolo10port check`: the whole porting check in one call — export, reference dump, candidate run, diff.

The weights are read once. The candidate is the clean model (run from the export, as a port would be), or an ONNX
graph run by ONNX Runtime or OpenVINO. Beyond the chained per-row error of the diff, `check` can run each of the
candidate's modules alone on the reference's recorded inputs (isolated error) and drill into the failing layer.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yolo10port.compare import Report, Tolerances, diff_dumps
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.model import YOLOv10
from yolo10port.reference.dump import dump_reference
from yolo10port.weights.export import export_weights
from yolo10port.weights.reader import Weights, read_weights


@dataclass
class CheckResult:
    report: Report
    files: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)
    candidate: str = "clean"
    port: object = None  # the candidate that ran (check --e2e runs the same one end to end)


class Steps:
    """Times each step and reports progress."""

    def __init__(self, progress: Callable[[str], None]):
        self.progress = progress
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, action: Callable[[], object]) -> object:
        self.progress(name)
        start = time.perf_counter()
        result = action()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return result


def run_check(
    model: str | Path | Weights,
    workdir: str | Path | None = None,
    spec: RunSpec = RunSpec(),
    layers: str | None = None,
    fuse: bool = False,
    tolerances: Tolerances | None = None,
    progress: Callable[[str], None] = lambda _step: None,
    drill: bool = False,
    mutate: Callable[[YOLOv10, dict], None] | None = None,
    reuse: bool = False,
    candidate: str = "clean",
    require: str | None = None,
    isolated: bool = True,
    floor: bool = True,
    runtime_options: list[str] | None = None,
    precision: str | None = None,
) -> CheckResult:
    """Check `candidate` (clean | onnxruntime | openvino | PATH.onnx) against the ultralytics reference for `spec`.

    `spec.dtype` is the candidate's; the reference runs in float32 with its float64 noise floor. `mutate` plants a
    bug in the loaded clean model (selftest). `reuse` keeps an export and reference dump already in `workdir`.
    `floor=False` skips the reference's float64 run (for a check judged by a fixed rule only). `precision`
    (float16 | bfloat16 | tf32 | winograd | winograd-f43) is what the candidate computes in; the reference then
    records that precision's floor too, and the candidate is judged by the one it records (workflows/precision.py).
    """
    weights = model if isinstance(model, Weights) else read_weights(model)  # read once; exit 2 before any folder
    if candidate == "litert":  # make litert-export's file, or exit 2 naming it before anything is written
        from yolo10port.candidates.litert import exported_model

        candidate = str(exported_model(weights.scale, spec.imgsz))
    folder_given = Path(workdir) if workdir else None
    created = folder_given is not None and not folder_given.exists()
    try:
        with tempfile.TemporaryDirectory(prefix="yolo10port-check-") as scratch:
            folder = folder_given or Path(scratch)
            folder.mkdir(parents=True, exist_ok=True)
            result = _check_in(
                weights, folder, spec, layers, fuse, tolerances, Steps(progress), drill, mutate, reuse, candidate,
                require, isolated, floor, runtime_options, precision,
            )  # fmt: skip
            if folder_given is None:
                result.files = {}
            return result
    except (InputError, KeyboardInterrupt):
        if created:  # a folder this check made must not outlive a check that never ran
            shutil.rmtree(folder_given, ignore_errors=True)
        raise


def _check_in(
    weights: Weights,
    folder: Path,
    spec: RunSpec,
    layers: str | None,
    fuse: bool,
    tolerances: Tolerances | None,
    step: Steps,
    drill: bool,
    mutate,
    reuse: bool,
    candidate_kind: str,
    require: str | None,
    isolated: bool = True,
    floor: bool = True,
    runtime_options: list[str] | None = None,
    precision: str | None = None,
) -> CheckResult:
    from yolo10port.candidates import make_candidate
    from yolo10port.dumps.reader import read_dump_metadata
    from yolo10port.workflows.precision import (
        FLOAT32,
        PRECISIONS,
        asked_precision,
        candidate_precision,
        precision_note,
        recorded_floors,
        reference_floors,
        reference_lacks,
    )

    stem = weights.path.name.removesuffix(".safetensors").removesuffix(".pt") or "model"
    files = {
        "weights": folder / f"{stem}.safetensors",
        "reference": folder / f"{stem}.reference.safetensors",
        "candidate": folder / f"{stem}.candidate.safetensors",
    }
    precision, spec = asked_precision(precision, spec, candidate_kind)
    floors = reference_floors(precision)
    reference_spec = spec.but(dtype="float32", tf32=False, with_inputs=True)
    if not (reuse and files["weights"].exists()):
        step("export", lambda: export_weights(weights, files["weights"]))
    # The candidate first: a graph that does not fit these weights or this input is refused (exit 2) before the
    # reference dump is paid for.
    port = step("load", lambda: make_candidate(candidate_kind, weights, files, fuse, spec, runtime_options, precision))
    # A runtime that computes in another precision than asked by its own options (ncnn's default Winograd) is
    # judged by that precision's floor: the reference records it too.
    floors = tuple(dict.fromkeys(floors + reference_floors(candidate_precision(port))))
    if reuse and reference_lacks(files["reference"], floors):  # remade with the floors it had and the one asked
        floors = tuple(dict.fromkeys(floors + recorded_floors(files["reference"])))
        files["reference"].unlink()
    dump = lambda: dump_reference(weights, files["reference"], reference_spec, floor=floor, floors=floors)  # noqa: E731
    if not (reuse and files["reference"].exists()):
        step("reference", dump)
    if mutate is not None:
        mutate(port.model, weights.state_dict)
    step("candidate", lambda: port.dump(files["candidate"], spec))
    # Some runtimes say what they computed in only once compiled (OpenVINO on a CPU with bf16 but no f16 compiles an
    # f16 hint to bf16): the reference then gets that precision's floor too, rather than the candidate being judged
    # by a floor it never claimed.
    # Only when a reduced precision was asked: asking for float32's floor (a budget check) keeps it.
    ran = read_dump_metadata(files["candidate"]).get("precision", FLOAT32)
    if precision != FLOAT32 and ran in PRECISIONS and reference_lacks(files["reference"], reference_floors(ran)):
        floors = tuple(dict.fromkeys(floors + reference_floors(ran) + recorded_floors(files["reference"])))
        files["reference"].unlink()
        step("reference", dump)
    report: Report = step(
        "diff", lambda: diff_dumps(files["reference"], files["candidate"], layers, tolerances, require=require)
    )
    note = precision_note(precision, report)
    if note:
        report.notes.append(note)
    if isolated:
        step("isolated", lambda: port.attach_isolated(report, files["reference"]))
    report.labels = {
        "reference": f"ultralytics reference of {weights.path.name}",
        "candidate": f"{port.label} ({report.candidate_meta.get('precision') or spec.dtype}, {spec.device})",
    }
    if drill and (not report.passed or report.quantized):  # INT8: drill into the layer that loses the most alone
        from yolo10port.workflows.drill import drill_into

        report.drill = step("drill", lambda: drill_into(report, weights, port, folder, spec, tolerances))
    return CheckResult(report, files, step.seconds, port.kind, port)
