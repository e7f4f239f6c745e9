"""`check --precision`: run a candidate in a reduced precision and judge it by that precision's floor.

The reference is dumped with the floor of the precision asked; the candidate computes in it (the clean model in
that dtype, or with Winograd/TF32 arithmetic; an ONNX graph converted to float16; OpenVINO with the hint) and
records what it truly ran; the diff judges by the floor of the recorded precision, so a runtime that ignores the
request (OpenVINO's f16/bf16 hint on a CPU without them) is judged by what it did, and the report says so.
"""

from __future__ import annotations

from pathlib import Path

from yolo10port.compare.precision import FLOAT32, PRECISIONS, floor_keys, normalise, recorded
from yolo10port.dumps.reader import read_dump_metadata
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError

EXTRA_ARITHMETIC = {"winograd-f43": "winograd"}  # asked name → the floor that judges it


def asked_precision(precision: str | None, spec: RunSpec, candidate: str) -> tuple[str, RunSpec]:
    """(the precision asked, the spec adjusted): `--dtype float16` alone means float16 too; the clean model's dtype
    follows a float16/bfloat16 precision; TF32 on CUDA is the flag."""
    asked = precision if precision in EXTRA_ARITHMETIC else (normalise(precision) if precision else None)
    if asked is None:
        asked = spec.dtype if spec.dtype in ("float16", "bfloat16") else ("tf32" if spec.tf32 else FLOAT32)
    if asked in ("float16", "bfloat16"):
        if spec.dtype not in ("float32", asked):
            raise InputError("--precision", f"{asked} contradicts --dtype {spec.dtype}")
        if candidate == "clean":
            spec = spec.but(dtype=asked)
    if asked == "tf32" and spec.device.startswith("cuda") and candidate == "clean":
        spec = spec.but(tf32=True)
    return asked, spec


def candidate_precision(port) -> str:
    """What a loaded candidate says it will compute in before it runs (ncnn: `winograd` with its default options;
    a graph: its weights' precision), float32 when it cannot say."""
    known = getattr(port, "precision", None)
    known = known() if callable(known) else known
    return known if known in PRECISIONS or known in EXTRA_ARITHMETIC else FLOAT32


def reference_floors(precision: str) -> tuple[str, ...]:
    judged = EXTRA_ARITHMETIC.get(precision, precision)
    return () if judged == FLOAT32 else (judged,)


def reference_lacks(path: Path, floors: tuple[str, ...]) -> bool:
    """Whether a reference dump already there (a reused workdir) lacks one of the floors asked."""
    if not floors or not path.exists():
        return False
    meta = read_dump_metadata(path)
    return any(not meta.get(floor_keys(p)[0]) for p in floors)


def recorded_floors(path: Path) -> tuple[str, ...]:
    """The reduced precisions an existing reference dump carries floors for."""
    return tuple(p for p in recorded(read_dump_metadata(path)) if p != FLOAT32)


def precision_note(asked: str, report) -> str | None:
    """A note when the candidate ran in another precision than asked (and so was judged by that one)."""
    ran = report.candidate_meta.get("precision")
    judged = EXTRA_ARITHMETIC.get(asked, asked)
    if asked == FLOAT32 or ran is None or ran == judged:
        return None
    hint = report.candidate_meta.get("inference_precision_hint")
    compiled = report.candidate_meta.get("inference_precision")
    why = f" (OpenVINO was asked {hint} and compiled to {compiled})" if hint else ""
    return (
        f"asked to compute in {asked}, the candidate ran in {ran}{why}: judged by the {ran} floor, what it truly "
        "computed in"
    )
