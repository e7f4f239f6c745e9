"""`yolo10port selftest`: plant each porting bug in the clean model and show, per input kind, whether `check`
catches it and where — the proof that the checker can fail, and a map of each input's blind spots.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yolo10port.dumps.spec import RunSpec
from yolo10port.weights.reader import read_weights
from yolo10port.workflows.check import run_check
from yolo10port.workflows.selftest.mutations import MUTATIONS, Mutation


def bundled_image(name: str = "bus.jpg") -> str:
    import ultralytics

    return str(Path(ultralytics.__file__).parent / "assets" / name)


INPUT_KINDS = {"ones": "ones", "random": "random:0", "image": None}  # image: ultralytics' bus.jpg unless given


@dataclass
class Outcome:
    caught: bool
    first_failure: str | None  # chained: where the error shows first
    culprit: str | None  # isolated: the module whose own output is wrong
    detections: str  # matched/total


@dataclass
class SelftestResult:
    scale: str
    inputs: dict[str, str]  # kind → input spec
    baseline: dict[str, bool] = field(default_factory=dict)  # kind → the unmutated model passes
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict)  # mutation → kind → outcome

    @property
    def missed(self) -> list[str]:
        """Mutations that no input kind caught: each is a hole in the checker."""
        return [name for name, row in self.outcomes.items() if not any(o.caught for o in row.values())]

    def blind_spots(self, kind: str) -> list[str]:
        return [name for name, row in self.outcomes.items() if not row[kind].caught]

    @property
    def passed(self) -> bool:
        return all(self.baseline.values()) and not self.missed


def run_selftest(
    model_path: str | Path,
    scale: str,
    inputs: dict[str, str] | None = None,
    mutations: list[Mutation] = MUTATIONS,
    imgsz: int = 640,
    device: str = "cpu",
    progress: Callable[[str], None] = lambda _step: None,
) -> SelftestResult:
    inputs = inputs or {kind: spec or bundled_image() for kind, spec in INPUT_KINDS.items()}
    result = SelftestResult(scale, inputs)
    weights = read_weights(model_path)
    with tempfile.TemporaryDirectory(prefix="yolo10port-selftest-") as scratch:
        for kind, spec in inputs.items():
            progress(f"{kind}: unmutated model")
            folder = Path(scratch) / kind
            run = RunSpec(input=spec, imgsz=imgsz, device=device)
            result.baseline[kind] = run_check(weights, folder, run).report.passed
            for mutation in mutations:
                progress(f"{kind}: {mutation.name}")
                report = run_check(weights, folder, run, mutate=mutation.plant, reuse=True).report
                det = report.detections
                result.outcomes.setdefault(mutation.name, {})[kind] = Outcome(
                    caught=not report.passed,
                    first_failure=report.first_failure,
                    culprit=report.culprit,
                    detections=f"{det.matched}/{det.total}" if det else "—",
                )
    return result
