"""Compare two dumps key by key, reading one tensor pair at a time (memory stays bounded)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yolo10port.compare.detections import DetectionMatch, match_detections
from yolo10port.compare.metrics import tensor_error
from yolo10port.compare.selectors import parse_layers
from yolo10port.compare.tolerances import Tolerances
from yolo10port.dumps.capture import is_input_key
from yolo10port.dumps.reader import DumpReader
from yolo10port.errors import InputError
from yolo10port.weights.reader import DUMP_FORMAT, WEIGHTS_FORMAT, read_safetensors_metadata


@dataclass
class LayerRow:
    name: str
    type: str
    shape: list[int] | None
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    atol: float = 0.0
    rtol: float = 0.0
    ref_max_abs: float | None = None
    passed: bool = True
    reason: str = ""
    # Isolated error (compare/isolated.py): the candidate module fed the reference's inputs; None = not measured.
    isolated_max_abs: float | None = None
    isolated_max_rel: float | None = None
    isolated_passed: bool | None = None
    # --tol auto (compare/noise_floor.py): the float32 reference's own error, and this row's error in its units.
    noise_floor: float | None = None
    needs_k: float | None = None

    @property
    def limit(self) -> float | None:
        return None if self.ref_max_abs is None else self.atol + self.rtol * self.ref_max_abs

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("passed")
        data["limit"] = self.limit
        return data


@dataclass
class Report:
    reference: str
    candidate: str
    tolerance: dict
    layers: list[LayerRow] = field(default_factory=list)
    detections: DetectionMatch | None = None
    reference_meta: dict = field(default_factory=dict)
    candidate_meta: dict = field(default_factory=dict)
    isolated: bool = False  # whether isolated error was measured (candidate was a torch module)
    drill: Report | None = None  # the sub-report of the first failing layer, hooked at every depth

    @property
    def culprit(self) -> str | None:
        """The first module whose own (isolated) error breaches tolerance: the bug, not where it shows."""
        return next((row.name for row in self.layers if row.isolated_passed is False), None)

    @property
    def first_failure(self) -> str | None:
        failed = next((row.name for row in self.layers if not row.passed), None)
        if failed is None and self.detections is not None and not self.detections.passed:
            return "detections"
        return failed

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    def to_dict(self) -> dict:
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "pass": self.passed,
            "first_failure": self.first_failure,
            "tolerance": self.tolerance,
            "layers": [row.to_dict() for row in self.layers],
            "detections": self.detections.to_dict() if self.detections else None,
            "isolated": self.isolated,
            "culprit": self.culprit,
            "drill": self.drill.to_dict() if self.drill else None,
            "reference_producer": self.reference_meta.get("producer"),
            "candidate_producer": self.candidate_meta.get("producer"),
            "input": self.reference_meta.get("input"),
        }


def read_dump_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a dump")
    meta = read_safetensors_metadata(path)
    kind = meta.get("format")
    if kind == WEIGHTS_FORMAT:
        raise InputError(path, "is a weights export, not a dump (make one with `yolo10port dump` or `run`)")
    if kind is None:
        raise InputError(path, f"safetensors file without a 'format' metadata entry; a dump has format={DUMP_FORMAT}")
    if kind != DUMP_FORMAT:
        raise InputError(path, f"metadata format is {kind!r}, expected {DUMP_FORMAT!r}")
    return meta


def _order(meta: dict[str, str], keys: list[str]) -> list[str]:
    try:
        order = json.loads(meta.get("order", "[]"))
    except json.JSONDecodeError:
        order = []
    known = [k for k in order if k in keys]
    return known + sorted(set(keys) - set(known))


def diff_dumps(
    reference: str | Path,
    candidate: str | Path,
    layers: str | None = None,
    tolerances: Tolerances | None = None,
    force: bool = False,
) -> Report:
    tol = tolerances or Tolerances()
    ref_meta, cand_meta = read_dump_metadata(reference), read_dump_metadata(candidate)
    for field_name in ("scale", "nc", "input"):  # foreign dumps may omit them; then there is nothing to check
        ours, theirs = ref_meta.get(field_name), cand_meta.get(field_name)
        if ours and theirs and ours != theirs and not force:
            raise InputError(
                candidate,
                f"{field_name} {theirs!r} differs from the reference's {ours!r} (use --force to compare anyway)",
            )
    selected = parse_layers(layers)
    types = json.loads(ref_meta.get("module_types", "{}") or "{}")
    cand_types = json.loads(cand_meta.get("module_types", "{}") or "{}")
    report = Report(
        str(reference),
        str(candidate),
        {"atol": tol.atol, "rtol": tol.rtol, "match_iou": tol.match_iou, "match_score": tol.match_score},
        reference_meta=ref_meta,
        candidate_meta=cand_meta,
    )
    try:
        with DumpReader(reference) as ref_file, DumpReader(candidate) as cand_file:
            ref_keys, cand_keys = list(ref_file.keys()), list(cand_file.keys())
            names = _order(ref_meta, ref_keys) + [k for k in _order(cand_meta, cand_keys) if k not in ref_keys]
            for name in filter(selected, (n for n in names if not is_input_key(n))):
                module_type = types.get(name) or cand_types.get(name, "")
                if name not in cand_keys or name not in ref_keys:
                    side = "candidate" if name not in cand_keys else "reference"
                    report.layers.append(LayerRow(name, module_type, None, passed=False, reason=f"missing in {side}"))
                    continue
                ref, cand = ref_file.get(name), cand_file.get(name)
                if name == "detections":
                    report.detections = match_detections(ref, cand, tol.match_iou, tol.match_score)
                    continue
                report.layers.append(_compare(name, module_type, ref, cand, tol))
    except InputError:
        raise
    except Exception as error:  # a header that parsed but whose data is broken
        raise InputError(candidate, f"unreadable dump data ({type(error).__name__}: {error})") from None
    return report


def _compare(name: str, module_type: str, ref, cand, tol: Tolerances) -> LayerRow:
    atol, rtol = tol.for_key(name)
    row = LayerRow(name, module_type, list(ref.shape), atol=atol, rtol=rtol)
    if ref.shape != cand.shape:
        row.passed, row.reason = False, f"shape {tuple(cand.shape)} ≠ reference {tuple(ref.shape)}"
        return row
    if ref.dtype != cand.dtype and not (ref.is_floating_point() and cand.is_floating_point()):
        row.passed, row.reason = False, f"dtype {cand.dtype} ≠ reference {ref.dtype}"
        return row
    error = tensor_error(ref, cand)
    row.max_abs, row.mean_abs, row.max_rel, row.cosine = error.max_abs, error.mean_abs, error.max_rel, error.cosine
    row.ref_max_abs = error.ref_max_abs
    if error.nonfinite_cand or error.nonfinite_ref:
        row.passed = False
        row.reason = f"NaN/Inf: {error.nonfinite_cand} in candidate, {error.nonfinite_ref} in reference"
    else:
        row.passed = error.max_abs <= row.limit
    return row
