"""The six YOLOv10 scales as data (the paper's Table 1 family; ultralytics' yolov10{n,s,m,b,l,x}.yaml)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    depth: float  # multiplies the number of blocks in each C2f / C2fCIB
    width: float  # multiplies channels
    max_channels: int  # channels are capped before the width multiple
    cib_layers: frozenset[int]  # layers built as C2fCIB instead of C2f (rank-guided block design)
    large_kernel: bool  # CIBs use the 7×7 RepVGGDW (the small scales only)

    def channels(self, c: int) -> int:
        return math.ceil(min(c, self.max_channels) * self.width / 8) * 8

    def repeats(self, n: int) -> int:
        return max(round(n * self.depth), 1)


SCALES: dict[str, Scale] = {
    "n": Scale(0.33, 0.25, 1024, frozenset({22}), large_kernel=True),
    "s": Scale(0.33, 0.50, 1024, frozenset({8, 22}), large_kernel=True),
    "m": Scale(0.67, 0.75, 768, frozenset({8, 19, 22}), large_kernel=False),
    "b": Scale(0.67, 1.00, 512, frozenset({8, 13, 19, 22}), large_kernel=False),
    "l": Scale(1.00, 1.00, 512, frozenset({8, 13, 19, 22}), large_kernel=False),
    "x": Scale(1.00, 1.25, 512, frozenset({6, 8, 13, 19, 22}), large_kernel=False),
}
