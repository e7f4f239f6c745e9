"""`yolo10port quantize`: a float YOLOv10 graph to INT8 with the project's preprocessing, the harmful layers found
and kept in float, the fix written out for ONNX Runtime and NNCF, and the result re-verified by mAP.

1. The float graph: MODEL's own export (reference/onnx_export.py, nms=False, static imgsz²) or MODEL itself when it
   is that exporter's .onnx. Cut into units by scope.py (model.0 … model.22, the head's box convs, class convs and
   decode; the top-k part after the head is never quantized).
2. `--keep-float head`: the decode kept in float. `none`: everything but the top-k quantized. A LIST: those modules
   or nodes. `auto`: a ranking, then the smallest set within the budget:
   - rank: quantize each unit ALONE (all else float) and measure its mAP50-95 drop against the float graph. (The
     other way round, keeping each unit alone in float with the rest quantized, cannot rank YOLOv10 under ONNX
     Runtime: with the decode quantized every score is 0 and every unit but the decode "gains" exactly 0.)
   - choose: keep units in float in ranking order, re-quantizing and re-measuring after each, until the drop is
     within `--budget`; that set is the answer (exit 1 if even all harmful units do not bring it within).
3. The final graph is quantized with the chosen set, scored with val's bootstrap interval, and written with a JSON
   file beside it: ONNX Runtime's `nodes_to_exclude` and NNCF's `ignored_scope`, node names read from the float graph.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yolo10port.atomic import atomic_path
from yolo10port.compare.dataset_map import MapResult
from yolo10port.errors import InputError

EXCLUSION_FORMAT = "yolo10port-int8-exclusion/1"
DEFAULT_BUDGET = 0.02  # absolute mAP50-95 (float − int8): about the noise of a 16–64 image set's bootstrap interval
KEEP_FLOAT_CHOICES = ("auto", "head", "none")

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class RankRow:
    unit: str
    nodes: int
    map: float  # mAP50-95 with only this unit quantized
    drop: float  # float mAP − that


@dataclass
class Step:
    units: list[str]
    map: float
    drop: float


@dataclass
class QuantizeResult:
    model: str
    float_graph: str
    output: str
    exclusion: str
    backend: str
    settings: dict
    keep_float: str
    units: list[str]  # units kept in float
    nodes: list[str]  # node names kept in float (units' and LIST's), the top-k part not included
    always_float: list[str]  # the top-k part after the head
    calibration_images: int
    scoring: str | None  # what mAP was measured on
    budget: float
    float_map: float | None = None
    full: MapResult | None = None  # everything but the top-k quantized
    final: MapResult | None = None
    ranking: list[RankRow] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.final is None or self.final.drop <= self.budget

    def exclusion_file(self) -> dict:
        excluded = [*self.nodes, *self.always_float]
        patterns = [f"^/{unit.replace('.', '[.]')}/" for unit in self.units if unit.count(".") == 1]
        return {
            "format": EXCLUSION_FORMAT,
            "float_graph": self.float_graph,
            "float_graph_sha256": _sha256(Path(self.float_graph)) if Path(self.float_graph).is_file() else None,
            "keep_float": self.keep_float,
            "modules": self.units,
            "onnxruntime": {"nodes_to_exclude": excluded, "quantize_static": self.settings_for("onnxruntime")},
            "nncf": {
                "ignored_scope": {"names": excluded},
                "ignored_scope_patterns": patterns,  # the same top-level modules as regexes (NNCF patterns)
            },
            "always_float": "the top-k part after the decoded head (its last entries): indices, not activations",
            "measured": self.measured(),
        }

    def settings_for(self, backend: str) -> dict:
        return self.settings if backend == self.backend else {}

    def measured(self) -> dict:
        def side(result: MapResult | None) -> dict | None:
            if result is None:
                return None
            return {"map50_95": result.candidate_map, "drop": result.drop, "drop_ci95": [-result.ci[1], -result.ci[0]]}

        return {
            "scored_on": self.scoring,
            "budget": self.budget,
            "float_map50_95": self.float_map,
            "full_int8": side(self.full),
            "final": side(self.final),
            "ranking": [vars(row) for row in self.ranking],
            "steps": [vars(step) for step in self.steps],
            "seconds": {name: round(value, 1) for name, value in self.timings.items()},
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def exclusion_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.exclusion.json")


def check_keep_float(spec: str) -> None:
    if not spec.strip():
        raise InputError("--keep-float", "is empty: give auto, head, none, or module paths / node names")


def _float_graph(model: Path, scratch: Path, imgsz: int, status: Callable[[str], None]) -> Path:
    if model.suffix.lower() == ".onnx":
        return model
    from yolo10port.reference.onnx_export import export_onnx
    from yolo10port.weights.reader import read_weights

    status("exporting the float graph (yolo10port onnx, nms=False)…")
    return export_onnx(read_weights(model), scratch / f"{model.stem}.onnx", imgsz=imgsz)


def _session(path: Path):
    import onnxruntime as ort

    from yolo10port.threads import thread_count

    options = ort.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_quantize(
    model: Path,
    calib: Path,
    out: Path,
    exclusion: Path | None = None,
    backend: str = "onnxruntime",
    keep_float: str = "head",
    val: Path | None = None,
    budget: float = DEFAULT_BUDGET,
    imgsz: int = 640,
    max_calib: int = 64,
    max_val: int = 64,
    resamples: int = 500,
    seed: int = 0,
    progress: Progress = lambda what, done, total: None,
    status: Callable[[str], None] = lambda line: None,
) -> QuantizeResult:
    """See the module's docstring. Writes `out` and `exclusion` (atomically; inside the caller's output transaction
    they commit together)."""
    from yolo10port.quantize.data import (
        PSEUDO_LABEL_CONF,
        CalibrationReader,
        check_images,
        detections,
        map50_95,
        pseudo_labels,
        scoring_set,
        select_images,
    )

    check_keep_float(keep_float)
    exclusion = exclusion or exclusion_path(out)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    calib_set = select_images(calib, max_calib, "--calib")
    val_set = select_images(val, max_val, "--val") if val is not None else None
    check_images(calib_set)
    # Without labels, the float graph's own detections are the truth (data.pseudo_labels): agreement, not accuracy.
    scored_on = val_set if val_set is not None else calib_set
    # The inputs are checked before the heavy imports (torch comes with the ONNX mapping) and any export.
    from yolo10port.quantize.backends import Quantizer
    from yolo10port.quantize.scope import graph_scope, resolve_keep_float

    with tempfile.TemporaryDirectory(prefix="yolo10port-quantize-") as scratch_name:
        scratch = Path(scratch_name)
        began = time.perf_counter()
        float_graph = _float_graph(model, scratch, imgsz, status)
        scope = graph_scope(float_graph)
        size = scope.imgsz or imgsz
        units, nodes = resolve_keep_float(keep_float, scope) if keep_float != "auto" else ([], [])
        timings["float graph"] = time.perf_counter() - began
        reader = CalibrationReader(calib_set, scope.input_name, size)
        status("preparing the graph for the quantizer…")
        all_nodes = [name for names in scope.units.values() for name in names]
        quantizer = Quantizer(backend, float_graph, scratch, reader, all_nodes)
        result = QuantizeResult(
            model=str(model),
            float_graph=str(model if model.suffix.lower() == ".onnx" else float_graph.name),
            output=str(out),
            exclusion=str(exclusion),
            backend=backend,
            settings=quantizer.settings(),
            keep_float=keep_float,
            units=units,
            nodes=[],
            always_float=scope.post,
            calibration_images=len(calib_set.images),
            scoring=scored_on.source,
            budget=budget,
        )
        began = time.perf_counter()
        status(f"reading {len(scored_on.images)} images to score on…")
        scoring = scoring_set(scored_on, size, nc=0)
        float_rows = detections(_session(float_graph), scope.input_name, scoring)
        if scoring.pseudo:
            boxes = pseudo_labels(scoring, float_rows)
            result.scoring = (
                f"{scored_on.source}, unlabelled: the float graph's {boxes} detections at conf ≥ "
                f"{PSEUDO_LABEL_CONF:g} as labels (agreement with float, not accuracy)"
            )
            if boxes == 0:
                if keep_float == "auto":
                    raise InputError(
                        scored_on.source,
                        f"unlabelled, and the float graph detects nothing at conf ≥ {PSEUDO_LABEL_CONF:g} on its "
                        "images: nothing to rank layers by (give --val DATA with labels)",
                    )
                scoring, result.scoring = None, None
        if scoring is not None:
            result.float_map = map50_95(scoring, float_rows)
        timings["float scoring"] = time.perf_counter() - began

        made: dict[tuple, Path] = {}  # the same set twice (the last step of auto, then the final) is made once
        scored: dict[Path, list] = {}
        numbers = itertools.count()

        def quantized(path: Path, kept_units: list[str], kept_nodes: list[str], only=None) -> Path:
            exclude = tuple(dict.fromkeys([*scope.nodes_of(kept_units), *kept_nodes, *scope.post]))
            if only is None and exclude in made:
                return made[exclude]
            path = path.with_name(f"{path.stem}-{next(numbers)}.onnx")  # a fresh name per graph
            quantizer(path, list(exclude), only=only)
            if only is None:
                made[exclude] = path
            return path

        def score(path: Path) -> list:
            if path not in scored:
                scored[path] = detections(_session(path), scope.input_name, scoring)
            return scored[path]

        if scoring is not None:
            from yolo10port.quantize.data import compare_maps

            began = time.perf_counter()
            status("calibrating and quantizing everything but the top-k (the baseline)…")
            full = quantized(scratch / "full.onnx", [], [])
            result.full = compare_maps(scoring, float_rows, score(full), resamples, seed)
            timings["calibration and full int8"] = time.perf_counter() - began
        if keep_float == "auto":
            began = time.perf_counter()
            result.ranking = _rank(scope, scoring, result.float_map, quantized, score, scratch, progress)
            timings["ranking"] = time.perf_counter() - began
            began = time.perf_counter()
            result.steps = _choose(result, scoring, quantized, score, scratch, progress)
            units = result.steps[-1].units if result.steps else []
            timings["choosing"] = time.perf_counter() - began
        result.units, result.nodes = units, [*scope.nodes_of(units), *nodes]
        began = time.perf_counter()
        status("quantizing the final graph…")
        final = quantized(scratch / "final.onnx", units, nodes)
        if scoring is not None:
            result.final = compare_maps(scoring, float_rows, score(final), resamples, seed)
        timings["final"] = time.perf_counter() - began
        result.timings = {**timings, "total": time.perf_counter() - started}
        with atomic_path(out) as tmp:
            shutil.copyfile(final, tmp)
        with atomic_path(exclusion) as tmp:
            tmp.write_text(json.dumps(result.exclusion_file(), indent=1) + "\n")
    if result.scoring is None:
        result.notes.append("the float graph detects nothing on the scoring images: mAP not measured")
    elif scored_on.labels is None:
        result.notes.append(
            "no labels (--val DATA, or labels beside the --calib images): mAP50-95 is measured against the float "
            "graph's own detections, so it says how far INT8 departs from float, not how accurate either is"
        )
    if len(calib_set.images) < 16:
        result.notes.append(f"{len(calib_set.images)} calibration images: ranges from so few images may not hold")
    return result


def _rank(scope, scoring, float_map, quantized, score, scratch, progress) -> list[RankRow]:
    from yolo10port.quantize.data import map50_95

    rows = []
    units = list(scope.units)
    for number, unit in enumerate(units):
        progress(f"ranking: {unit} quantized alone", number, len(units))
        path = quantized(scratch / "alone.onnx", [], [], only=scope.units[unit])
        value = map50_95(scoring, score(path))
        rows.append(RankRow(unit, len(scope.units[unit]), value, float_map - value))
    progress("ranking done", len(units), len(units))
    return sorted(rows, key=lambda row: -row.drop)


def _choose(result: QuantizeResult, scoring, quantized, score, scratch, progress) -> list[Step]:
    """Keep units in float in ranking order until the drop is within the budget (units whose quantization alone
    costs nothing are never added)."""
    from yolo10port.quantize.data import map50_95

    steps: list[Step] = []
    if result.full is not None and result.full.drop <= result.budget:
        return [Step([], result.full.candidate_map, result.full.drop)]
    harmful = [row.unit for row in result.ranking if row.drop > 0]
    kept: list[str] = []
    for number, unit in enumerate(harmful):
        kept.append(unit)
        progress(f"choosing: {len(kept)} kept in float (+{unit})", number, len(harmful))
        value = map50_95(scoring, score(quantized(scratch / "step.onnx", kept, [])))
        steps.append(Step(list(kept), value, result.float_map - value))
        if steps[-1].drop <= result.budget:
            break
    progress("choosing done", len(harmful), len(harmful))
    if not steps:
        result.notes.append("no unit costs mAP when quantized alone: nothing to keep in float")
        steps.append(Step([], result.full.candidate_map, result.full.drop))
    elif steps[-1].drop > result.budget:
        result.notes.append(
            f"keeping every harmful unit in float ({len(kept)}) still misses the budget {result.budget:g}"
        )
    return steps


__all__ = ["DEFAULT_BUDGET", "QuantizeResult", "exclusion_path", "run_quantize"]
