"""One compared row of a report: its error figures, its limit and the rule that set it, its verdict.

Its own module so that the engine, the input check and the hints all use it without importing one another.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class LayerRow:
    name: str
    type: str
    shape: list[int] | None
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    pcc: float | None = None
    ref_max_abs: float | None = None
    floor: float | None = None  # the reference's float32-vs-float64 noise at this row, if it carries one
    limit: float | None = None
    rule: str = ""  # floor | fixed | input
    atol: float = 0.0  # the limit as atol + rtol · max|ref| (the floor rule: atol = the limit, rtol = 0)
    rtol: float = 0.0
    floor_multiple: float | None = None  # max-abs ÷ max(floor, ε·max|ref|): this row's error in units of the floor
    mean_floor: float | None = None  # the reference's mean float32-vs-float64 difference at this row
    mean_limit: float | None = None  # the floor rule's limit on mean-abs
    mean_floor_multiple: float | None = None  # mean-abs ÷ max(mean floor, ε·max|ref|)
    passed: bool = True
    reason: str = ""
    # Isolated error (candidates/*): the candidate's module fed the reference's inputs; None = not measured.
    isolated_max_abs: float | None = None
    isolated_max_rel: float | None = None
    isolated_passed: bool | None = None
    # Quantized candidates (compare/quantized.py): signal-to-quantization-noise in dB, chained and isolated, and the
    # isolated PCC; set on every row, read as the diagnosis of int8 rows.
    sqnr: float | None = None
    isolated_sqnr: float | None = None
    isolated_pcc: float | None = None

    @property
    def margin(self) -> float | None:
        """limit ÷ error, the smaller over max-abs and mean-abs: how many times the error would have to grow to fail
        (∞ for an exact row; below 1 for a failing one)."""
        if self.limit is None or self.max_abs is None or math.isnan(self.max_abs):
            return None
        margins = [math.inf if self.max_abs == 0 else self.limit / self.max_abs]
        if self.mean_limit is not None and self.mean_abs:
            margins.append(self.mean_limit / self.mean_abs)
        return min(margins)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("passed")
        data["margin"] = self.margin
        return data
