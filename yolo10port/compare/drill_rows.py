"""Drill-down rows of an existing diff: the submodules of the first failing top-level layer (`diff --drill`).

Two depth-all dumps of a foreign port carry no module to re-run, so only chained error is known: the first failing
submodule in execution order (children run before their parent) is the best pointer. `check --drill` does more:
see workflows/drill.py.
"""

from __future__ import annotations

from dataclasses import replace

from yolo10port.compare.engine import Report
from yolo10port.dumps.keys import top_level_index


def failing_layer(report: Report) -> str | None:
    """`model.<i>` of the culprit (isolated error) if known, else of the first chained failure."""
    name = report.culprit or report.first_failure
    index = top_level_index(name) if name else None
    return None if index is None else f"model.{index}"


def drill_existing(report: Report) -> Report | None:
    """The rows inside the first failing top-level layer of an existing (depth-all) diff; None if it has none."""
    layer = failing_layer(report)
    if layer is None:
        return None
    inside = [row for row in report.layers if row.name.startswith((f"{layer}.", f"{layer}#", f"{layer}/"))]
    if not inside:
        return None
    own = [row for row in report.layers if row.name == layer]
    return replace(
        report,
        layers=inside + own,
        detections=None,
        drill=None,
        missing=[],
        required=[],
        ignored=[],
        not_comparable={},
        notes=[],
    )
