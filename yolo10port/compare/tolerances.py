"""Tolerances: pass iff max|cand − ref| ≤ atol + rtol · max|ref|, with per-layer overrides from TOML.

Defaults, from measurement on the calibrated fixtures of all six scales at 640 (README, "Tolerances"): the
float32 reference against the float64 one stays under 2.6e-6 · max|ref| at every layer, and the fused clean
model (BatchNorm folding reorders float32 rounding) under 4.7e-6 · max|ref|. rtol 1e-4 leaves a 20× margin
above both, yet a layer off by 0.1 % (1e-3 · max|ref|) fails; atol 1e-5 only matters for near-zero layers.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from yolo10port.errors import InputError

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
# Detections are matched, not compared elementwise (near-equal scores legitimately reorder top-k).
DEFAULT_MATCH_IOU = 0.99
DEFAULT_MATCH_SCORE = 1e-4  # measured worst |Δscore| fused vs reference: 2.2e-6


@dataclass
class Tolerances:
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    overrides: list[tuple[str, float, float]] = field(default_factory=list)  # (key glob, atol, rtol)
    match_iou: float = DEFAULT_MATCH_IOU
    match_score: float = DEFAULT_MATCH_SCORE

    def for_key(self, key: str) -> tuple[float, float]:
        chosen = (self.atol, self.rtol)
        for pattern, atol, rtol in self.overrides:
            if key == pattern or fnmatch.fnmatchcase(key, pattern):
                chosen = (atol, rtol)  # the last matching override wins
        return chosen


def load_tolerances(path: str | Path | None, atol: float | None = None, rtol: float | None = None) -> Tolerances:
    """Defaults, then the TOML file's `[default]` and `[layers."<key or glob>"]`, then --atol/--rtol."""
    tol = Tolerances()
    if path is not None:
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(path, "no such tolerance file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as error:
            raise InputError(path, f"not valid TOML ({error})") from None
        default = document.get("default", {})
        tol.atol = float(default.get("atol", tol.atol))
        tol.rtol = float(default.get("rtol", tol.rtol))
        detections = document.get("detections", {})
        tol.match_iou = float(detections.get("iou", tol.match_iou))
        tol.match_score = float(detections.get("score", tol.match_score))
        for pattern, entry in document.get("layers", {}).items():
            if not isinstance(entry, dict):
                raise InputError(path, f"[layers.{pattern!r}] must be a table with atol and/or rtol")
            tol.overrides.append((pattern, float(entry.get("atol", tol.atol)), float(entry.get("rtol", tol.rtol))))
    if atol is not None:
        tol.atol = atol
    if rtol is not None:
        tol.rtol = rtol
    for value, name in ((tol.atol, "atol"), (tol.rtol, "rtol")):
        if value < 0:
            raise InputError(f"--{name}", f"{value} is negative")
    return tol
