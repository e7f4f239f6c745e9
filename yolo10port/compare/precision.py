"""Which noise floor judges a candidate: the one of the precision it computes in (numpy only, no torch).

A reference records the float32 floor always (how far float32 arithmetic moves each row from a float64 run) and,
on request (`dump --floors float16,bfloat16,tf32,winograd`), one floor per reduced precision: how far the
reference network run in that precision moves each row from the float32 reference (dumps/run.py). A candidate is
judged by the floor of the precision it declares (metadata `precision`, else what its `dtype` and TF32 flags say,
or `--precision`), so a float16 port is held to what float16 costs on that input, measured, not to a guessed rtol.
"""

from __future__ import annotations

import json
import math

from yolo10port.compare.rules import eps_scale
from yolo10port.errors import InputError

FLOAT32 = "float32"
# What a reference can carry a floor for, and what each one means (README, "Reduced precision").
PRECISIONS = {
    "float32": "float32 arithmetic (the reference's own floor, against float64)",
    "float16": "the network run in float16",
    "bfloat16": "the network run in bfloat16",
    "tf32": "convolutions and matmuls on TF32 operands (10-bit mantissa), float32 accumulation",
    "winograd": "float32 with 3×3 convolutions by Winograd F(6,3) (ncnn's fast kernel)",
}
REDUCED = tuple(p for p in PRECISIONS if p != FLOAT32)
ALIASES = {  # what runtimes and users call them
    "f32": "float32",
    "fp32": "float32",
    "float64": "float32",  # a float64 candidate is judged like a float32 one (its error is below that floor)
    "f64": "float32",
    "f16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "tensorfloat32": "tf32",
    "float32-winograd": "winograd",
}
FLOOR_KEY = "noise_floor"
MEAN_FLOOR_KEY = "noise_floor_mean"


def floor_keys(precision: str) -> tuple[str, str]:
    """The reference's metadata keys of a precision's max and mean floor: `noise_floor@float16`, …"""
    if precision == FLOAT32:
        return FLOOR_KEY, MEAN_FLOOR_KEY
    return f"{FLOOR_KEY}@{precision}", f"{MEAN_FLOOR_KEY}@{precision}"


def normalise(name: str, option: str = "--precision") -> str:
    """`f16`, `FP16`, `half` → `float16`; an unknown name is an input error naming the option."""
    value = ALIASES.get(name.strip().lower(), name.strip().lower())
    if value not in PRECISIONS:
        raise InputError(option, f"{name!r} is not one of {', '.join(PRECISIONS)}")
    return value


def parse_floors(text: str | None) -> tuple[str, ...]:
    """`--floors float16,bf16,tf32` → the reduced precisions to record (float32's floor is always there)."""
    if not text:
        return ()
    chosen = [normalise(part, "--floors") for part in text.split(",") if part.strip()]
    return tuple(dict.fromkeys(p for p in chosen if p != FLOAT32))


def declared_precision(meta: dict[str, str]) -> str | None:
    """What a candidate's metadata says it computes in: `precision` first (documented), then `dtype` (float16,
    bfloat16), then CUDA TF32 flags; None when it says nothing beyond float32/float64 or nothing at all."""
    stated = meta.get("precision")
    if stated:
        value = ALIASES.get(stated.strip().lower(), stated.strip().lower())
        return value if value in PRECISIONS else None
    dtype = ALIASES.get((meta.get("dtype") or "").lower(), (meta.get("dtype") or "").lower())
    if dtype in ("float16", "bfloat16"):
        return dtype
    if meta.get("tf32_conv") == "true" or meta.get("tf32_matmul") == "true":
        return "tf32"
    return None


def _json_map(meta: dict[str, str], key: str) -> dict[str, float]:
    try:
        value = json.loads(meta.get(key) or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def recorded(meta: dict[str, str]) -> list[str]:
    """The precisions a reference carries a floor for (float32 first when it has one)."""
    return [p for p in PRECISIONS if meta.get(floor_keys(p)[0])]


def floors_at(meta: dict[str, str], precision: str) -> tuple[dict[str, float], dict[str, float]]:
    """(max floors, mean floors) per row at `precision`: the larger of that precision's floor and float32's (where
    the reduced run happens to be exact, float32's rounding is still there); float32's alone for float32."""
    floors, means = _json_map(meta, FLOOR_KEY), _json_map(meta, MEAN_FLOOR_KEY)
    if precision == FLOAT32:
        return floors, means
    key, mean_key = floor_keys(precision)
    reduced, reduced_means = _json_map(meta, key), _json_map(meta, mean_key)
    wider = lambda a, b: {row: max(a.get(row, 0.0), b.get(row, 0.0)) for row in a.keys() | b.keys()}  # noqa: E731
    return wider(floors, reduced), wider(means, reduced_means)


def choose(
    ref_meta: dict[str, str], cand_meta: dict[str, str], asked: str | None, reference: str = "the reference"
) -> tuple[str, str | None]:
    """(the precision whose floor judges, a note or None). `asked` (--precision) wins over the candidate's
    metadata; asking for a floor the reference lacks is an input error, a declaration alone falls back to
    float32's floor with a note that says how to get the right one."""
    declared = declared_precision(cand_meta)
    if asked is not None:
        precision = normalise(asked)
        if precision != FLOAT32 and not ref_meta.get(floor_keys(precision)[0]) and ref_meta.get(FLOOR_KEY):
            raise InputError(
                reference,
                f"carries no {precision} floor (it has: {', '.join(recorded(ref_meta)) or 'none'}); make it with "
                f"`yolo10port dump … --floors {precision}` (or golden --floors {precision})",
            )
        note = None
        if declared and declared != precision:
            note = f"judged by the {precision} floor as asked (--precision), though the candidate declares {declared}"
        return precision, note
    if declared is None or declared == FLOAT32:
        return FLOAT32, None
    if not ref_meta.get(floor_keys(declared)[0]):
        if not ref_meta.get(FLOOR_KEY):
            return FLOAT32, None  # no floor at all: the fixed rule judges, and engine says so
        return FLOAT32, (
            f"the candidate declares {declared}, but the reference carries no {declared} floor: judged by the "
            f"float32 floor; re-make the reference with `dump … --floors {declared}` to judge it by what {declared} "
            "costs"
        )
    return declared, f"the candidate declares {declared}: judged by the reference's {declared} floor"


def passes_at(report, precision: str) -> bool | None:
    """Whether every failing numeric row of `report` would pass judged by the reference's `precision` floor (the
    same K, K_mean and ε): None when the reference lacks that floor or nothing failed numerically."""
    meta = report.reference_meta
    if not meta.get(floor_keys(precision)[0]):
        return None
    floors, means = floors_at(meta, precision)
    tol = report.tolerance
    k, k_mean, eps = tol.get("k", 6.0), tol.get("k_mean", 3.5), tol.get("eps", 4e-6)
    failing = [r for r in report.layers if not r.passed and r.rule == "floor" and r.max_abs is not None]
    if not failing or any(not r.passed and r.rule not in ("floor", "input") for r in report.layers):
        return None
    for row in failing:
        if not math.isfinite(row.max_abs) or row.name not in floors:
            return False
        if row.max_abs > k * max(floors[row.name], eps * eps_scale(row.name, row.ref_max_abs or 0.0)):
            return False
        # the mean limit's ε term, recovered from the row's own mean limit (k_mean · max(mean floor, ε·mean|ref|))
        floor32_mean = (row.mean_limit or 0.0) / k_mean if k_mean else 0.0
        mean_floor = max(means.get(row.name, 0.0), floor32_mean)
        if row.mean_abs is not None and row.mean_limit is not None and row.mean_abs > k_mean * mean_floor:
            return False
    return True


def hint(report) -> str | None:
    """A failing candidate judged by the float32 floor that the reference's floor of another precision would pass
    (reduced precision, or fast-convolution kernels): name the option that judges it by what it computes in."""
    if report.passed or report.tolerance.get("precision", FLOAT32) != FLOAT32:
        return None
    for precision in ("winograd", "tf32", "float16", "bfloat16"):  # the narrowest floor first
        if passes_at(report, precision):
            what = (
                "fast-convolution (Winograd) kernels: float32, with a few times float32's rounding"
                if precision == "winograd"
                else f"{precision} arithmetic"
            )
            return (
                f"every failing row is within the reference's {precision} floor: consistent with {what}; if that is "
                f"what the candidate computes, judge it with --precision {precision} (or declare precision="
                f"{precision} in its dump's metadata)"
            )
    return _winograd_kernels_without_floor(report)


# How many float32 floors Winograd F(6,3) moves a row (README, "Reduced precision": 3–5× on the fixtures), with room.
WINOGRAD_FLOOR_MULTIPLES = 12.0


def _winograd_kernels_without_floor(report) -> str | None:
    """A candidate whose metadata names Winograd kernels (`kernels: winograd…`, as ncnn's dumps do) but not its
    precision, failing by a few float32 floors against a reference that has no winograd floor: say how to judge it."""
    meta = report.reference_meta
    if not str(report.candidate_meta.get("kernels", "")).lower().startswith("winograd"):
        return None
    if meta.get(floor_keys("winograd")[0]) or not meta.get(FLOOR_KEY):
        return None
    failing = [r for r in report.layers if not r.passed]
    if not failing or any(r.rule != "floor" or r.floor_multiple is None for r in failing):
        return None
    if max(r.floor_multiple for r in failing) > WINOGRAD_FLOOR_MULTIPLES:
        return None
    return (
        "the candidate says it computes with Winograd kernels (kernels: "
        f"{report.candidate_meta['kernels']}) and every failing row is within {WINOGRAD_FLOOR_MULTIPLES:.0f} float32 "
        "floors: consistent with Winograd's rounding; dump the reference with --floors winograd and judge it with "
        "--precision winograd"
    )
