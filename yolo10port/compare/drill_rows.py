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
    """`model.<i>` of the culprit (isolated error) if known, else of the first chained failure; for a quantized
    candidate (rows are diagnosis), of the worst row: lowest isolated SQNR where measured, else chained."""
    name = report.culprit or report.first_failure
    if getattr(report, "quantized", False) and name is None:
        from yolo10port.compare.quantized import ranked

        worst = ranked(report, isolated=report.isolated)
        name = worst[0].name if worst else None
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


def _module(name: str) -> str:
    return name.partition("#")[0].split("/")[0]


def _children(report: Report, parent: str) -> list:
    """The rows of `parent`'s direct children (`model.10.attn` → qkv, pe, proj), in execution order."""
    depth = parent.count(".") + 1
    return [
        row
        for row in report.layers
        if _module(row.name).startswith(parent + ".") and _module(row.name).count(".") == depth
    ]


def blame(report: Report) -> str | None:
    """Who is at fault inside a drilled layer, in words.

    With isolated error, the culprit is the first module (children run before their parent) wrong on the
    reference's own inputs. If it has children and every one of them passes in isolation, the fault is in its own
    forward code, between its children (an attention's scale, a split, a reshape): the module is named, not the
    last child, which only inherits the error. Without isolated error (two existing dumps) a failing child whose
    earlier siblings pass cannot be told apart from its parent's own code, and the words say so."""
    culprit = report.culprit
    if culprit is not None:
        children = _children(report, _module(culprit))
        if children and all(row.isolated_passed for row in children):
            names = ", ".join(_module(row.name).rsplit(".", 1)[-1] for row in children)
            return (
                f"{culprit}, in its own forward code between its children ({names} pass in isolation on the "
                "reference's inputs)"
            )
        return culprit
    first = report.first_failure
    if first is None or "." not in _module(first):
        return first
    parent = _module(first).rsplit(".", 1)[0]
    before = []
    for row in _children(report, parent):
        if _module(row.name) == _module(first) or not row.passed:
            break
        before.append(_module(row.name).rsplit(".", 1)[-1])
    if before and any(_module(row.name) == parent for row in report.layers):
        return (
            f"{first}, or {parent}'s own forward code between its children ({', '.join(before)} pass before it); "
            "chained error alone cannot tell them apart: `check --drill` measures each module on the reference's "
            "inputs"
        )
    return first
