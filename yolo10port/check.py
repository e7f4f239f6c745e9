"""`yolo10port check`: the whole porting check in one call — export, reference dump, clean run, diff."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yolo10port.compare import Report, Tolerances, diff_dumps
from yolo10port.reference.dump import dump_reference
from yolo10port.runner import dump_clean
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
) -> CheckResult:
    """Export the weights, dump ultralytics, run the clean model from the export, and diff the two dumps."""
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

        def step(name: str, action: Callable[[], object]) -> None:
            progress(name)
            start = time.perf_counter()
            action()
            seconds[name] = time.perf_counter() - start

        step("export", lambda: export_weights(model_path, files["weights"]))
        common = {"input_spec": input_spec, "imgsz": imgsz, "batch": batch, "depth": depth}
        step("reference", lambda: dump_reference(model_path, files["reference"], **common))
        step("clean", lambda: dump_clean(files["weights"], files["candidate"], fuse=fuse, **common))
        report: list[Report] = []
        step("diff", lambda: report.append(diff_dumps(files["reference"], files["candidate"], layers, tolerances)))
        return CheckResult(report[0], files if workdir else {}, seconds)
