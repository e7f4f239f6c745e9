"""What `diff` checks of a reference before trusting it (numpy-free, torch-free: the light install).

- A golden set's dumps against its index.json: each dump's sha256 must be the one recorded when the set was made,
  every dump must be listed, every listed dump present. This catches accidental edits, truncation, a dump copied
  in from elsewhere, a half-synced cache. It is not a signature: whoever can edit a dump can edit the index too.
- Every noise floor against its own row's magnitude: float32 rounding moves a row by a small fraction of its
  largest value (at most 4 % measured, on x), so a floor of half the row's magnitude or more is not a measurement,
  and under it any candidate, all zeros included, would pass.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from yolo10port.errors import InputError
from yolo10port.formats import GOLDEN_FORMAT, sha256_file

GOLDEN_INDEX = "index.json"
MAX_INDEX_BYTES = 64 << 20  # an index lists keys and floors: a few hundred kB at --depth all
# A floor may be at most this fraction of its row's max|ref| (mean floor: of mean|ref|), plus FLOOR_SLACK for rows
# float32 computes as exact zeros. Honest floors measured: ≤ 2e-4 of the row on n (every row at depth all, 320,
# ones/zeros/random:0), ≤ 0.040 on x at 640, random:0 (model.23/scores; mean floors ≤ 0.0071). Half the row's
# magnitude is not rounding, by any measure; the bound is a sanity check that catches absurd values (1e30, a
# negative, inf), not a subtle edit: a golden set's sha256 is what catches any edit.
FLOOR_RATIO_MAX = 0.5
FLOOR_SLACK = 1e-6


class ImplausibleFloor(ValueError):
    """A reference's floor that float32 rounding cannot have produced; diff_dumps names the reference file."""


def check_floor(row: str, floor, ref_max_abs: float, mean_floor=None, ref_mean_abs: float | None = None) -> None:
    """Raise ImplausibleFloor when a recorded floor is negative or larger than its row can carry. A NaN or infinite
    floor is no measurement, and rules.py already judges such a row by the fixed rule."""
    for name, value, magnitude in (("noise floor", floor, ref_max_abs), ("mean noise floor", mean_floor, ref_mean_abs)):
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or magnitude is None:
            continue  # absent, or not a number (the metadata reader reports that)
        if math.isnan(value) or math.isinf(value):
            continue  # a row that is NaN in the reference itself (NaN weights): the fixed rule judges it, and fails it
        if value < 0:
            raise ImplausibleFloor(f"the {name} of {row} is {value}, which no float32 run measures")
        if math.isfinite(magnitude) and value > FLOOR_RATIO_MAX * magnitude + FLOOR_SLACK:
            scale = "max" if name == "noise floor" else "mean"
            raise ImplausibleFloor(
                f"the {name} of {row} is {value:.3g}, larger than its row could carry ({scale}|ref| {magnitude:.3g}; "
                f"at most {FLOOR_RATIO_MAX:g} of it): not a float32 rounding measurement, so every candidate would "
                "pass; the dump was edited or is broken"
            )


def verify_golden_set(folder: Path, dumps: dict[str, Path]) -> None:
    """When `folder` holds an index.json, each of `dumps` (its .safetensors files) must be listed there with the
    sha256 it has now, and each listed dump must be present; InputError naming the file otherwise. A folder of
    reference dumps without an index (made by hand) has nothing to be verified against."""
    index = folder / GOLDEN_INDEX
    if not index.exists():
        return
    if not index.is_file() or index.stat().st_size > MAX_INDEX_BYTES:
        raise InputError(index, "is not a golden set's index (not a file, or larger than any index)")
    try:
        data = json.loads(index.read_bytes())
    except (OSError, ValueError) as error:
        raise InputError(index, f"is not valid JSON ({error}); the golden set cannot be verified") from None
    if not isinstance(data, dict) or data.get("format") != GOLDEN_FORMAT:
        raise InputError(index, f"does not say format {GOLDEN_FORMAT}; the golden set cannot be verified")
    entries = data.get("inputs")
    if not isinstance(entries, dict):
        raise InputError(index, "has no inputs table; the golden set cannot be verified")
    recorded = {
        entry.get("file"): entry.get("sha256")
        for entry in entries.values()
        if isinstance(entry, dict) and isinstance(entry.get("file"), str)
    }
    for path in dumps.values():
        if path.name not in recorded:
            raise InputError(path, f"is not listed in {index}: added to the golden set after it was made")
        expected = recorded[path.name]
        actual = sha256_file(path)
        if actual != expected:
            raise InputError(
                path,
                f"sha256 {actual[:16]}… is not the {str(expected)[:16]}… that {index} recorded: the dump changed after "
                "the golden set was made (edited, truncated or corrupted); remake the set with yolo10port golden",
            )
    present = {path.name for path in dumps.values()}
    for name in recorded:
        if name not in present:
            raise InputError(folder / name, f"is listed in {index} but missing: the golden set is incomplete")
