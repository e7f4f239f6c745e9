"""The `input` row: was the candidate fed exactly the reference's input?

A port that feeds another tensor (BGR instead of RGB, NHWC, 0–255, another letterbox) makes every later row
meaningless, so the input is compared first and a difference beyond float32 rounding fails with its likely cause.
"""

from __future__ import annotations

import numpy as np

from yolo10port.compare.metrics import tensor_error
from yolo10port.compare.rows import LayerRow
from yolo10port.dumps.keys import INPUT
from yolo10port.dumps.reader import DumpReader

INPUT_RULE = "input"
ROUNDING = 2.0**-23  # one float32 ulp at 1.0: a float64 input stored as float32 moves by at most this × max|ref|


REDUCED_PRECISION = "rounded to"  # the start of the reason when the candidate computes in float16 or bfloat16


def round_to_bfloat16(array: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 (round to nearest even) → float32, as torch rounds."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def _looks_like(ref: np.ndarray, cand: np.ndarray, tolerance: float) -> str | None:
    """Name a common preprocessing mistake that turns the reference's input into the candidate's."""
    ref, cand = ref.astype(np.float64), cand.astype(np.float64)
    if cand.ndim == 4 and ref.ndim == 4 and cand.shape == (ref.shape[0], ref.shape[2], ref.shape[3], ref.shape[1]):
        return "laid out NHWC; the reference is NCHW (B, 3, H, W)"
    if cand.shape != ref.shape:
        return None
    checks = [
        (lambda r: r.astype(np.float16), f"{REDUCED_PRECISION} float16: the candidate computes in half precision"),
        (round_to_bfloat16, f"{REDUCED_PRECISION} bfloat16: the candidate computes in bfloat16"),
        (lambda r: r[:, ::-1], "colour channels reversed (BGR); the reference is RGB"),
        (lambda r: r * 255.0, "scaled 0–255; the reference is scaled 0–1 (divide by 255)"),
    ]
    if ref.ndim == 4 and ref.shape[2] == ref.shape[3]:
        checks.append((lambda r: r.swapaxes(2, 3), "H and W transposed"))
    for transform, cause in checks:
        if np.abs(transform(ref) - cand).max() <= tolerance * max(1.0, float(np.abs(cand).max())):
            return cause
    return None


def check_input(ref_file: DumpReader, cand_file: DumpReader, cand_meta: dict, force: bool, precision: str = ""):
    """The `input` row; a candidate judged at float16 or bfloat16 may hold the reference's input rounded to it."""
    row = LayerRow(INPUT, "input", list(ref_file.shape(INPUT)), rule=INPUT_RULE)
    if INPUT not in cand_file:
        row.passed = force
        row.reason = "missing in candidate: a dump records the exact `input` tensor it was fed" + (
            " (--force: not checked)" if force else ""
        )
        return row
    ref, cand = ref_file.get(INPUT), cand_file.get(INPUT)
    if not cand_meta.get("input") and not force:
        row.passed = False
        row.reason = "the candidate's metadata has no 'input' entry; set it to the reference's (or use --force)"
    if ref.shape != cand.shape:
        row.passed = False
        cause = _looks_like(ref, cand, ROUNDING)
        row.reason = f"shape {tuple(cand.shape)} ≠ reference {tuple(ref.shape)}" + (f": {cause}" if cause else "")
        return row
    error = tensor_error(ref, cand)
    row.max_abs, row.mean_abs, row.max_rel = error.max_abs, error.mean_abs, error.max_rel
    row.cosine, row.pcc, row.ref_max_abs = error.cosine, error.pcc, error.ref_max_abs
    row.limit = row.atol = ROUNDING * error.ref_max_abs
    if error.nonfinite_cand or error.nonfinite_ref or not error.max_abs <= row.limit:
        row.passed = False
        cause = _looks_like(ref, cand, ROUNDING)
        row.reason = "differs from the reference's input" + (
            f": {cause}" if cause else f" by up to {error.max_abs:.3g} (another letterbox, resize or normalisation?)"
        )
        if cause and precision in ("float16", "bfloat16") and cause.startswith(f"{REDUCED_PRECISION} {precision}"):
            row.passed = bool(cand_meta.get("input")) or force  # a missing 'input' entry still fails
            row.reason = f"the reference's input {REDUCED_PRECISION} {precision}, as the candidate computes"
    return row
