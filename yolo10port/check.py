"""`yolo10port check`: the whole porting check in one call — export, reference dump, clean run, diff.

Beyond the chained per-layer error of the diff, `check` knows the candidate is a torch module with the
reference's paths, so it also measures isolated error (each clean module fed the reference's recorded inputs),
can drill into the failing layer (`drill`), and can judge against the float64 noise floor (`tol_auto`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yolo10port.compare import Report, Tolerances, diff_dumps
from yolo10port.compare.isolated import attach_isolated
from yolo10port.compare.noise_floor import noise_floor_report
from yolo10port.model import YOLOv10
from yolo10port.reference.dump import dump_reference
from yolo10port.runner import dump_model, load_clean_model
from yolo10port.weights.export import export_weights


@dataclass
class CheckResult:
    report: Report
    files: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)


def run_check(
    model_path: str | Path,
    workdir: str | Path | None = None,
    input_spec: str = "ones",
    imgsz: int = 640,
    batch: int = 1,
    layers: str | None = None,
    fuse: bool = False,
    depth: int | None = 1,
    tolerances: Tolerances | None = None,
    progress: Callable[[str], None] = lambda _step: None,
    drill: bool = False,
    tol_auto: bool = False,
    dtype: str = "float32",
    mutate: Callable[[YOLOv10, dict], None] | None = None,
    reuse: bool = False,
) -> CheckResult:
    """Export the weights, dump ultralytics, run the clean model from the export, and diff the two dumps.

    `dtype` is the clean model's (the reference stays float32, and float64 with `tol_auto`); `mutate` plants a
    bug in the loaded clean model (selftest). `reuse` keeps an export and reference dump already in `workdir`.
    """
    model_path = Path(model_path)
    with tempfile.TemporaryDirectory(prefix="yolo10port-check-") as scratch:
        folder = Path(workdir) if workdir else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        stem = model_path.stem
        files = {
            "weights": folder / f"{stem}.safetensors",
            "reference": folder / f"{stem}.reference.safetensors",
            "candidate": folder / f"{stem}.clean.safetensors",
        }
        seconds: dict[str, float] = {}

        def step(name: str, action: Callable[[], object]) -> object:
            progress(name)
            start = time.perf_counter()
            result = action()
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            return result

        common = {"input_spec": input_spec, "imgsz": imgsz, "batch": batch, "depth": depth}
        if not (reuse and files["weights"].exists()):
            step("export", lambda: export_weights(model_path, files["weights"]))
        if not (reuse and files["reference"].exists()):
            step("reference", lambda: dump_reference(model_path, files["reference"], with_inputs=True, **common))
        model, weights = load_clean_model(files["weights"], fuse=fuse)
        if mutate is not None:
            mutate(model, weights.state_dict)
        sha = weights.source_sha256
        step("clean", lambda: dump_model(model, sha, files["candidate"], dtype=dtype, **common))
        if tol_auto:
            files["reference64"] = folder / f"{stem}.reference64.safetensors"
            if not (reuse and files["reference64"].exists()):
                step("reference", lambda: dump_reference(model_path, files["reference64"], dtype="float64", **common))
            diff = lambda: noise_floor_report(  # noqa: E731
                files["reference64"], files["reference"], files["candidate"], layers, base=tolerances
            )
        else:
            diff = lambda: diff_dumps(files["reference"], files["candidate"], layers, tolerances)  # noqa: E731
        report: Report = step("diff", diff)
        step("isolated", lambda: attach_isolated(report, files["reference"], model))  # dump_model cast it to dtype
        if drill and not report.passed:
            from yolo10port.drill import drill_with_model

            report.drill = step(
                "drill",
                lambda: drill_with_model(
                    report, model_path, model, sha, folder, input_spec, imgsz, batch, tolerances, dtype
                ),
            )
        return CheckResult(report, files if workdir else {}, seconds)
