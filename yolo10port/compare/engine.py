"""Compare two dumps key by key, one tensor pair at a time (memory stays bounded), numpy only.

What is compared (DESIGN, "Comparing"):
- `input`: the candidate must have been fed the reference's input, to float32 rounding (a failing row otherwise);
- every key both dumps hold, in the reference's execution order; the decoded head as two rows, boxes and scores;
- `detections` by matching;
- keys only the reference holds are listed as "not in candidate" (failing only under `--require`), keys only the
  candidate holds as "not in reference, ignored"; a diff that compares nothing is an input error (exit 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yolo10port.compare.alignment import align_keys
from yolo10port.compare.detections import DetectionMatch, match_detections
from yolo10port.compare.hints import gather, likely_cause
from yolo10port.compare.input_check import INPUT_RULE, check_input
from yolo10port.compare.integrity import FLOOR_RATIO_MAX, ImplausibleFloor, check_floor
from yolo10port.compare.metrics import tensor_error
from yolo10port.compare.quantized import apply_quantized_rule, is_quantized_meta, ranking_dict
from yolo10port.compare.require import require_matcher
from yolo10port.compare.rows import LayerRow
from yolo10port.compare.rules import Tolerances, eps_scale
from yolo10port.compare.selectors import parse_layers
from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, INPUT, is_input_key, rows_of
from yolo10port.dumps.reader import DumpReader, read_dump_metadata
from yolo10port.dumps.validate import check_dump_dtypes, check_dump_metadata
from yolo10port.errors import InputError

NOISE_FLOOR = "noise_floor"  # the reference's metadata keys (written by dumps/run.py)
NOISE_FLOOR_MEAN = "noise_floor_mean"


@dataclass
class Report:
    reference: str
    candidate: str
    tolerance: dict
    layers: list[LayerRow] = field(default_factory=list)
    detections: DetectionMatch | None = None
    missing: list[str] = field(default_factory=list)  # reference keys the candidate lacks (selected ones)
    required: list[str] = field(default_factory=list)  # those of `missing` that --require makes failures
    ignored: list[str] = field(default_factory=list)  # candidate keys the reference lacks
    not_comparable: dict[str, str] = field(default_factory=dict)  # key → why it has no counterpart
    notes: list[str] = field(default_factory=list)
    reference_meta: dict = field(default_factory=dict)
    candidate_meta: dict = field(default_factory=dict)
    isolated: bool = False  # whether isolated error was measured (the candidate could run one module alone)
    drill: Report | None = None  # the sub-report of the first failing layer, hooked at every depth
    labels: dict[str, str] = field(default_factory=dict)  # display names of the two sides (check's temp files)
    evidence: dict = field(default_factory=dict)  # tensor facts the hints need, measured while the dumps were open
    quantized: bool = False  # an INT8 candidate: rows are SQNR/PCC diagnosis, the verdict is val's (compare/quantized)

    @property
    def culprit(self) -> str | None:
        """The first module whose own (isolated) error breaches tolerance: the bug, not where it shows."""
        return next((row.name for row in self.layers if row.isolated_passed is False), None)

    @property
    def first_failure(self) -> str | None:
        """The first failing row in execution order; then a required key that is missing; then detections."""
        failed = next((row.name for row in self.layers if not row.passed), None)
        if failed is None and self.required:
            failed = self.required[0]
        if failed is None and self.detections is not None and not self.detections.passed and not self.quantized:
            return DETECTIONS
        return failed

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    @property
    def compared(self) -> int:
        """Rows that test something: every numeric row, and the detections unless they cannot test anything here."""
        informative = self.detections is not None and self.detections.informative
        return sum(row.rule != INPUT_RULE for row in self.layers) + informative

    @property
    def hint(self) -> str | None:
        return likely_cause(self)

    def label(self, side: str) -> str:
        return self.labels.get(side) or getattr(self, side)

    def to_dict(self) -> dict:
        return {
            "reference": self.label("reference"),
            "candidate": self.label("candidate"),
            "pass": self.passed,
            "first_failure": self.first_failure,
            "hint": self.hint,
            "tolerance": self.tolerance,
            "layers": [row.to_dict() for row in self.layers],
            "detections": self.detections.to_dict() if self.detections else None,
            "not_in_candidate": self.missing,
            "required_missing": self.required,
            "not_in_reference_ignored": self.ignored,
            "not_comparable": self.not_comparable,
            "notes": self.notes,
            "isolated": self.isolated,
            "culprit": self.culprit,
            "drill": self.drill.to_dict() if self.drill else None,
            "reference_producer": self.reference_meta.get("producer"),
            "candidate_producer": self.candidate_meta.get("producer"),
            "input": self.reference_meta.get("input"),
            **({"quantized": ranking_dict(self)} if self.quantized else {}),
        }


def _order(meta: dict[str, str], keys: list[str]) -> list[str]:
    try:
        order = json.loads(meta.get("order", "[]"))
    except json.JSONDecodeError:
        order = []
    known = [k for k in order if k in keys]
    return known + sorted(set(keys) - set(known))


def _json_map(meta: dict[str, str], key: str) -> dict:
    try:
        value = json.loads(meta.get(key) or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _refuse_different_runs(ref_meta: dict, cand_meta: dict, candidate: str | Path, force: bool) -> None:
    for field_name in ("scale", "nc", "input"):  # foreign dumps may omit them; then there is nothing to check
        ours, theirs = ref_meta.get(field_name), cand_meta.get(field_name)
        if ours and theirs and ours != theirs and not force:
            raise InputError(
                candidate,
                f"{field_name} {theirs!r} differs from the reference's {ours!r} (use --force to compare anyway)",
            )


def diff_dumps(
    reference: str | Path,
    candidate: str | Path,
    layers: str | None = None,
    tolerances: Tolerances | None = None,
    force: bool = False,
    require: str | None = None,
    precision: str | None = None,
) -> Report:
    """`precision` (float32 | float16 | bfloat16 | tf32 | winograd) picks the reference's floor that judges;
    None: the one the candidate's metadata declares (compare/precision.py)."""
    from yolo10port.compare import precision as precisions

    tol = tolerances or Tolerances()
    ref_meta, cand_meta = read_dump_metadata(reference), read_dump_metadata(candidate)
    check_dump_metadata(reference, ref_meta)  # a broken file is named as the broken one, reference or candidate
    check_dump_metadata(candidate, cand_meta)
    _refuse_different_runs(ref_meta, cand_meta, candidate, force)
    selected = parse_layers(layers)
    types = _json_map(ref_meta, "module_types")
    cand_types = _json_map(cand_meta, "module_types")
    judged_at, precision_note = precisions.choose(ref_meta, cand_meta, precision, str(reference))
    floors, mean_floors = precisions.floors_at(ref_meta, judged_at)
    # The integrity bound (compare/integrity.py) is float32's: a reduced precision may legitimately move a row by
    # half its magnitude or more (bfloat16 does on deep rows of a random-weight model); such rows are named below.
    plain = precisions.floors_at(ref_meta, precisions.FLOAT32) if judged_at != precisions.FLOAT32 else None
    report = Report(str(reference), str(candidate), tol.describe(), reference_meta=ref_meta, candidate_meta=cand_meta)
    report.tolerance["precision"] = judged_at
    if precision_note:
        report.notes.append(precision_note)
    if tol.mode == "floor" and not floors:
        report.notes.append(
            "the reference carries no noise floor (a foreign or older dump): every row is judged by the fixed "
            f"rule, atol {tol.atol:g} + rtol {tol.rtol:g} · max|ref|"
        )
    ref_depth, cand_depth = ref_meta.get("depth"), cand_meta.get("depth")
    if ref_depth and cand_depth and ref_depth != cand_depth:
        report.notes.append(
            f"depths differ (reference {ref_depth}, candidate {cand_depth}): compared the keys both hold"
        )
    try:
        with DumpReader(reference) as ref_file, DumpReader(candidate) as cand_file:
            check_dump_dtypes(reference, ref_file)
            check_dump_dtypes(candidate, cand_file)
            ref_keys, cand_keys = ref_file.keys(), cand_file.keys()
            order = _order(ref_meta, ref_keys)
            alignment = align_keys(order, cand_keys, ref_meta, cand_meta, types)
            report.not_comparable = {k: why for k, why in alignment.not_comparable.items() if selected(k)}
            if alignment.note:
                report.notes.append(alignment.note)
            if INPUT in ref_keys:
                report.layers.append(check_input(ref_file, cand_file, cand_meta, force, judged_at))
            is_required = require_matcher(require, order)
            for name in order:
                if name == INPUT or is_input_key(name) or not selected(name) or name in alignment.not_comparable:
                    continue
                cand_name = alignment.pairs.get(name)
                if cand_name is None:
                    report.missing.append(name)
                    if is_required(name):
                        report.required.append(name)
                    continue
                ref, cand = ref_file.get(name), cand_file.get(cand_name)
                if name == DETECTIONS:
                    report.detections = _match(ref, cand, ref_file, cand_file, alignment.pairs, tol, floors)
                    if report.detections.saturated:
                        report.notes.append(saturation_note(report.detections))
                    continue
                module_type = types.get(name) or cand_types.get(cand_name, "")
                report.layers += compare_key(name, module_type, ref, cand, tol, floors, mean_floors, plain)
            if plain is not None:
                _note_rows_beyond_the_precision(report, judged_at)
            if is_quantized_meta(cand_meta) and precision is None:
                apply_quantized_rule(report)
            try:  # a hint is advice: a signature that cannot be measured never turns a verdict into an error
                report.evidence = gather(
                    report, lambda key, same_shape=True: _pair(ref_file, cand_file, key, alignment.pairs, same_shape)
                )
            except (ValueError, IndexError, FloatingPointError, MemoryError):
                report.evidence = {}
            paired = set(alignment.pairs.values())
            report.ignored = [
                k for k in _order(cand_meta, cand_keys) if k not in paired and k != INPUT and not is_input_key(k)
            ]
    except InputError:
        raise
    except ImplausibleFloor as error:  # the reference's own metadata is broken: name it, not the candidate
        raise InputError(reference, str(error)) from None
    except Exception as error:  # a header that parsed but whose data is broken
        raise InputError(candidate, f"unreadable dump data ({type(error).__name__}: {error})") from None
    if report.compared == 0 and report.detections is not None and not report.detections.informative:
        raise InputError(
            candidate,
            "nothing informative compared: the only compared key is `detections`, and "
            + saturation_note(report.detections),
        )
    if report.compared == 0:
        raise InputError(
            candidate,
            "nothing to compare: the two dumps share no selected key"
            + (f" (--layer {layers})" if layers else "")
            + f"; the reference holds {', '.join(ref_keys[:4])}…, "
            + f"the candidate {', '.join(cand_keys[:4]) or 'nothing'}",
        )
    return report


def _pair(ref_file: DumpReader, cand_file: DumpReader, key: str, pairs: dict, same_shape: bool = True):
    """Both sides of a key as float arrays of one shape (of any shapes with `same_shape=False`), or None (for the
    hints' tensor facts)."""
    cand_key = pairs.get(key)
    if cand_key is None or key not in ref_file:
        return None
    ref, cand = ref_file.get(key), cand_file.get(cand_key)
    if (same_shape and ref.shape != cand.shape) or ref.dtype.kind != "f" or cand.dtype.kind != "f":
        return None
    if not (np.isfinite(ref).all() and np.isfinite(cand).all()):
        return None
    return ref, cand


def saturation_note(det: DetectionMatch) -> str:
    return (
        f"the reference's top-k is saturated on this input: all {det.total} kept scores lie within "
        f"{det.match_score:.1e} of the cut, so any choice among the tied boxes is legitimate and this input cannot "
        "test post-processing"
        + (
            " (the candidate's detections were checked against its own model.23 instead)"
            if det.own_head is not None
            else "; compare on an image, or dump the candidate's model.23 too"
        )
    )


def _match(ref, cand, ref_file: DumpReader, cand_file: DumpReader, pairs: dict, tol: Tolerances, floors: dict):
    """The detections row: matched against the reference's, ties at the cut vouched for by the reference's decoded
    head, and the candidate's post-processing re-derived from its own decoded head where it dumped one."""
    score_tol, box_tol = tol.detection_tolerances(floors)
    head = ref_file.get(DECODED_HEAD) if DECODED_HEAD in ref_file else None
    own_key = pairs.get(DECODED_HEAD)
    own_head = cand_file.get(own_key) if own_key is not None else None
    return match_detections(ref, cand, tol.match_iou, score_tol, box_tol, head=head, own_head=own_head)


def compare_key(
    name: str,
    module_type: str,
    ref: np.ndarray,
    cand: np.ndarray,
    tol: Tolerances,
    floors: dict[str, float],
    mean_floors: dict[str, float] | None = None,
    plain_floors: tuple[dict[str, float], dict[str, float]] | None = None,
) -> list[LayerRow]:
    """The rows of one key: itself, or the decoded head's boxes and scores, each judged on its own scale."""
    if ref.shape != cand.shape:
        row = LayerRow(name, module_type, list(ref.shape), passed=False, floor=floors.get(name))
        row.reason = f"shape {tuple(cand.shape)} ≠ reference {tuple(ref.shape)}"
        if ref.size and ref.dtype.kind == "f":  # the limit is the reference's: isolated error can still be judged
            row.ref_max_abs = float(np.nanmax(np.abs(ref)))
            row.mean_floor = (mean_floors or {}).get(name)
            limit = tol.limit(name, row.ref_max_abs, row.floor, row.ref_max_abs, row.mean_floor)
            _set_limit(row, limit)
        return [row]
    if ref.dtype.kind != cand.dtype.kind and not (ref.dtype.kind == "f" and cand.dtype.kind == "f"):
        return [LayerRow(name, module_type, list(ref.shape), passed=False, reason=f"dtype {cand.dtype} ≠ {ref.dtype}")]
    mean_floors = mean_floors or {}
    plain = (
        None if plain_floors is None else lambda row: (plain_floors[0].get(row), plain_floors[1].get(row))
    )  # float32's floors, for the integrity bound, when a reduced precision's judge
    return [
        judge(
            row_name,
            module_type,
            ref_part,
            cand_part,
            tol,
            floors.get(row_name),
            mean_floors.get(row_name),
            plain(row_name) if plain else None,
        )
        for (row_name, ref_part), (_, cand_part) in zip(rows_of(name, ref), rows_of(name, cand))
    ]


def _set_limit(row: LayerRow, limit) -> None:
    row.limit, row.rule, row.atol, row.rtol, row.mean_limit = (
        limit.value,
        limit.rule,
        limit.atol,
        limit.rtol,
        limit.mean,
    )


def _note_rows_beyond_the_precision(report: Report, precision: str) -> None:
    """Rows whose floor at a reduced precision is half their magnitude or more: that precision alone moves them that
    far, so they pass any candidate at it; said, not hidden (the float32 floor never gets there: integrity.py)."""
    beyond = [
        row
        for row in report.layers
        if row.floor is not None and row.ref_max_abs and row.floor > FLOOR_RATIO_MAX * row.ref_max_abs
    ]
    if beyond:
        worst = max(beyond, key=lambda row: row.floor / row.ref_max_abs)
        report.notes.append(
            f"{len(beyond)} rows cannot be judged at {precision}: the precision alone moves them by half their "
            f"magnitude or more (e.g. {worst.name}: {worst.floor:.3g} of max|ref| {worst.ref_max_abs:.3g}), so any "
            f"candidate passes them there; judge those layers on another input, or at a wider precision"
        )


def _multiple(error: float, unit: float) -> float:
    return error / unit if unit > 0 else (0.0 if error == 0 else math.inf)


def judge(
    name: str,
    module_type: str,
    ref: np.ndarray,
    cand: np.ndarray,
    tol: Tolerances,
    floor: float | None,
    mean_floor: float | None = None,
    plain_floor: tuple[float | None, float | None] | None = None,
) -> LayerRow:
    error = tensor_error(ref, cand)
    row = LayerRow(name, module_type, list(ref.shape), floor=floor, mean_floor=mean_floor)
    row.max_abs, row.mean_abs, row.max_rel = error.max_abs, error.mean_abs, error.max_rel
    row.cosine, row.pcc, row.ref_max_abs, row.sqnr = error.cosine, error.pcc, error.ref_max_abs, error.sqnr
    # Both tests grant ε at the row's largest magnitude (README, "Comparing and tolerances"): float32 resolves every
    # element only as finely as the largest values it is computed with (a sigmoid through 0.5 + ½·tanh, a sum of
    # large partial products), so ε · mean|ref| asked more of a sparse row than float32 can give.
    checked, checked_mean = plain_floor if plain_floor is not None else (floor, mean_floor)
    check_floor(name, checked, error.ref_max_abs, checked_mean, error.ref_mean_abs)
    limit = tol.limit(name, error.ref_max_abs, floor, error.ref_max_abs, mean_floor)
    _set_limit(row, limit)
    if limit.rule == "floor":
        eps = tol.settings_for(name).get("eps", tol.eps)
        scale = eps_scale(name, error.ref_max_abs)  # at least 1 on a row of probabilities (rules.py)
        row.floor_multiple = _multiple(error.max_abs, max(floor, eps * scale))
        if limit.mean is not None:
            row.mean_floor_multiple = _multiple(error.mean_abs, max(mean_floor, eps * scale))
    if error.nonfinite_cand or error.nonfinite_ref:
        row.passed = False
        row.reason = f"NaN/Inf: {error.nonfinite_cand} in candidate, {error.nonfinite_ref} in reference"
        return row
    row.passed = error.max_abs <= row.limit
    if row.passed and row.mean_limit is not None and error.mean_abs > row.mean_limit:
        row.passed = False  # small everywhere: a systematic error (a scaled weight), which rounding does not make
        row.reason = (
            f"mean-abs {error.mean_abs:.2e} > {row.mean_limit:.2e} ({row.mean_floor_multiple:.0f} × its mean floor): "
            "a small error everywhere, beyond the rounding float32 shows on this row"
        )
    return row
