"""`yolo10port selftest`: proof that the checker neither cries wolf nor misses, on a given model.

- **No false alarm.** Honest candidates (the clean model unfused and fused, ONNX Runtime, OpenVINO) must pass on
  every input kind; the smallest margin (limit ÷ max-abs) over their rows says how much room is left.
- **No miss.** Each planted porting bug must fail, and first in the layer it is in; the table shows where each
  input kind sees it, which maps each input's blind spots. A bug not caught in its layer has its own effect there
  measured without rounding (visibility.py): below float32's floor it is "below the noise" on that input, which no
  tolerance can see; above it, a miss.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yolo10port.compare.rules import EPS
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.spec import RunSpec
from yolo10port.weights.reader import read_weights
from yolo10port.workflows.check import run_check
from yolo10port.workflows.selftest.mutations import MUTATIONS, Mutation
from yolo10port.workflows.selftest.visibility import VISIBLE, effect_in_floors, float64_copy, layer_outputs

HONEST = {  # name → (candidate kind, fuse)
    "clean": ("clean", False),
    "clean-fused": ("clean", True),
    "onnxruntime": ("onnxruntime", False),
    "openvino": ("openvino", False),
    "ncnn": ("ncnn", False),  # ncnn's defaults: Winograd convolutions, judged by the reference's winograd floor
    "ncnn-direct": ("ncnn", False),  # Winograd off: what float32 ncnn computes without the fast transform
    "litert": ("litert", False),  # `make litert-export`'s .tflite of this scale and size, XNNPACK
    "litert-builtin": ("litert", False),  # the same file on LiteRT's builtin kernels
}
HONEST_RUNTIME_OPTIONS = {
    "ncnn-direct": ["use_winograd_convolution=false"],
    "litert": ["resolver=xnnpack"],
    "litert-builtin": ["resolver=builtin"],
}


def bundled_image(name: str = "bus.jpg") -> str:
    import ultralytics

    return str(Path(ultralytics.__file__).parent / "assets" / name)


INPUT_KINDS = {"ones": "ones", "random": "random:0", "image": None}  # image: ultralytics' bus.jpg unless given


def at_layer(row: str | None, layer: str) -> bool:
    """`model.23/scores` is at `model.23`; `model.10` is not at `model.1`."""
    return row is not None and (row == layer or row.startswith((f"{layer}/", f"{layer}.", f"{layer}#")))


@dataclass
class Outcome:
    caught: bool
    first_failure: str | None  # chained: where the error shows first
    culprit: str | None  # isolated: the module whose own output is wrong
    detections: str  # matched/total
    expected: str = ""  # the layer the bug is in
    margin: float | None = None  # the first failing row's error ÷ its limit: how far past the limit the bug is
    # Where the bug was not caught in its layer: its own effect there, without rounding, in floors (visibility.py)
    effect: float | None = None

    @property
    def right_layer(self) -> bool:
        return self.caught and at_layer(self.first_failure, self.expected)

    @property
    def invisible(self) -> bool:
        """Not caught in its layer, and the bug moves that layer less than float32 rounding does on this input:
        no tolerance could see it there (not a checker miss; reported as such, never as a pass)."""
        return not self.right_layer and self.effect is not None and self.effect < VISIBLE


@dataclass
class Honest:
    passed: bool
    smallest_margin: float  # limit ÷ max-abs over the rows (∞ when every row is exact)
    at: str  # the row with the smallest margin
    first_failure: str | None = None


@dataclass
class SelftestResult:
    scale: str
    inputs: dict[str, str]  # kind → input spec
    honest: dict[str, dict[str, Honest]] = field(default_factory=dict)  # candidate → kind → result
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict)  # mutation → kind → outcome
    not_applicable: list[str] = field(default_factory=list)  # bugs in a block this scale does not have

    @property
    def baseline(self) -> dict[str, bool]:
        """kind → the unmutated clean model passes (the reference the mutations are planted in)."""
        return {kind: h.passed for kind, h in self.honest.get("clean", {}).items()}

    @property
    def false_alarms(self) -> list[tuple[str, str]]:
        return [(name, kind) for name, row in self.honest.items() for kind, h in row.items() if not h.passed]

    @property
    def missed(self) -> list[str]:
        """Mutations that no input kind caught at their own layer, though some input showed them above the noise:
        each is a hole in the checker."""
        return [
            name
            for name, row in self.outcomes.items()
            if not any(o.right_layer for o in row.values()) and not all(o.invisible for o in row.values())
        ]

    @property
    def invisible(self) -> list[str]:
        """Mutations no input kind could show: on every input they were planted on, their own effect at their
        layer is below float32's rounding there. Not a hole in the checker, and not a pass: the report lists them."""
        return [
            name
            for name, row in self.outcomes.items()
            if not any(o.right_layer for o in row.values()) and all(o.invisible for o in row.values())
        ]

    @property
    def misplaced(self) -> list[tuple[str, str, str]]:
        """(mutation, input kind, where) for every catch at another layer than the one the bug is in."""
        return [
            (name, kind, o.first_failure or "")
            for name, row in self.outcomes.items()
            for kind, o in row.items()
            if o.caught and not o.right_layer
        ]

    def blind_spots(self, kind: str) -> list[str]:
        """Bugs this input kind let through (those below the noise on it included: `below_noise`)."""
        return [name for name, row in self.outcomes.items() if kind in row and not row[kind].caught]

    def below_noise(self, kind: str) -> list[str]:
        """Bugs this input kind cannot show: their effect at their layer is below float32's rounding on it."""
        return [name for name, row in self.outcomes.items() if kind in row and row[kind].invisible]

    @property
    def passed(self) -> bool:
        return not self.false_alarms and not self.missed

    def to_json(self) -> str:
        data = asdict(self)
        data["false_alarms"], data["missed"], data["misplaced"] = self.false_alarms, self.missed, self.misplaced
        data["invisible"] = self.invisible
        return json.dumps(data, indent=1, default=lambda v: None if v is None or math.isinf(v) else float(v)) + "\n"


def _honest(report) -> Honest:
    margins = [(row.margin, row.name) for row in report.layers if row.rule != "input" and row.margin is not None]
    smallest, at = min(margins, default=(math.inf, "—"))
    return Honest(report.passed, smallest, at, report.first_failure)


def run_selftest(
    model_path: str | Path,
    scale: str,
    inputs: dict[str, str] | None = None,
    mutations: list[Mutation] = MUTATIONS,
    imgsz: int = 640,
    device: str = "cpu",
    progress: Callable[[str], None] = lambda _step: None,
    honest: tuple[str, ...] = ("clean",),
    mutation_inputs: tuple[str, ...] | None = None,
    isolated: bool = True,
    precision: str | None = None,
) -> SelftestResult:
    """Run the honest candidates and the mutations on every input kind; `mutation_inputs` limits the mutations to
    some kinds (the honest candidates always run on all); `isolated=False` skips the culprit column (faster).
    `precision` (float16, bfloat16, tf32, winograd…) runs the honest candidates and the bugged clean model in it,
    judged by that precision's floor; an honest name may carry its own, `openvino@bfloat16`."""
    inputs = inputs or {kind: spec or bundled_image() for kind, spec in INPUT_KINDS.items()}
    result = SelftestResult(scale, inputs)
    weights = read_weights(model_path)
    from yolo10port.candidates.clean import load_clean_model

    structure, _ = load_clean_model(weights)  # which layer each bug lands in, and which bugs this scale can hold
    result.scale = structure.scale_name or scale  # the model's own (the CLI's --scale names a fixture only)
    expected = {m.name: m.layer_in(structure) for m in mutations}
    result.not_applicable = [m.name for m in mutations if expected[m.name] is None]
    mutations = [m for m in mutations if expected[m.name] is not None]
    kinds = {name: HONEST[name.partition("@")[0]][0] for name in honest}
    for name, kind in kinds.items():
        if kind == "litert":
            from yolo10port.candidates.litert import exported_model

            kinds[name] = str(exported_model(weights.scale, imgsz, "--honest"))  # exit 2 before anything runs
    with tempfile.TemporaryDirectory(prefix="yolo10port-selftest-") as scratch:
        for kind, spec in inputs.items():
            folder = Path(scratch) / kind.replace(":", "-")
            run = RunSpec(input=spec, imgsz=imgsz, device=device)
            for name in honest:
                progress(f"{kind}: {name}")
                base, _, own = name.partition("@")
                candidate, fuse = kinds[name], HONEST[base][1]
                options = HONEST_RUNTIME_OPTIONS.get(base)
                where, how = folder, run
                if candidate.endswith(".tflite") and make_input(run).letterbox is not None and not run.square:
                    # A static LiteRT export takes its square only (the tool cannot re-export it at the image's
                    # rectangle, as it does ncnn): the image is letterboxed to the full square, on both sides.
                    where, how = folder / "square", run.but(square=True)
                report = run_check(
                    weights,
                    where,
                    how,
                    fuse=fuse,
                    candidate=candidate,
                    reuse=True,
                    runtime_options=options,
                    precision=own or precision,
                ).report
                result.honest.setdefault(name, {})[kind] = _honest(report)
            if mutation_inputs is not None and kind not in mutation_inputs:
                continue
            clean_outputs = None  # the unbugged model in float64 on this input, computed once a bug is not caught
            for mutation in mutations:
                progress(f"{kind}: {mutation.name}")
                report = run_check(
                    weights, folder, run, layers=mutation.layers, mutate=mutation.plant, reuse=True, isolated=isolated,
                    precision=precision,
                ).report  # fmt: skip
                det = report.detections
                rows = {row.name: row for row in report.layers}
                first = rows.get(report.first_failure or "")
                outcome = Outcome(
                    caught=not report.passed,
                    first_failure=report.first_failure,
                    culprit=report.culprit,
                    detections=f"{det.matched}/{det.total}" if det else "—",
                    expected=expected[mutation.name],
                    margin=1 / first.margin if first and first.margin else None,  # how far past its limit
                )
                if not outcome.right_layer:  # a miss, or only noise? the bug's own effect, without rounding
                    progress(f"{kind}: {mutation.name}, its effect in float64")
                    clean_outputs = clean_outputs or layer_outputs(float64_copy(structure), run)
                    bugged = float64_copy(structure)
                    mutation.plant(bugged, weights.state_dict)
                    own = [row for row in report.layers if at_layer(row.name, outcome.expected)]
                    outcome.effect = effect_in_floors(
                        clean_outputs, layer_outputs(bugged, run), own, report.tolerance.get("eps", EPS)
                    )
                result.outcomes.setdefault(mutation.name, {})[kind] = outcome
    return result
