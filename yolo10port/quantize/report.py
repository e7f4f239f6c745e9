"""What `quantize` prints: mAP of float, full INT8 and the final graph with intervals, the ranking, the chosen set."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from yolo10port.compare.dataset_map import MapResult
from yolo10port.quantize.workflow import QuantizeResult
from yolo10port.shown import literal


def _interval(result: MapResult) -> str:
    low, high = -result.ci[1], -result.ci[0]  # the drop's interval (float − int8)
    return f"[{low:+.4f}, {high:+.4f}]"


def render(result: QuantizeResult, console: Console) -> None:
    if result.ranking:
        table = Table(title="sensitivity: each unit quantized alone (all else float)", title_justify="left")
        for name in ("unit", "nodes", "mAP50-95", "drop"):
            table.add_column(name, justify="left" if name == "unit" else "right")
        for row in result.ranking:
            table.add_row(literal(row.unit), str(row.nodes), f"{row.map:.4f}", f"{row.drop:+.4f}")
        console.print(table)
    if result.steps:
        table = Table(
            title=f"keeping units in float, in ranking order (budget {result.budget:g})", title_justify="left"
        )
        for name in ("added to float", "kept", "mAP50-95", "drop"):
            table.add_column(name, justify="left" if name == "added to float" else "right")
        for step in result.steps:  # one unit more per step: the whole set is the "kept in float" line below
            added = step.units[-1] if step.units else "(none)"
            table.add_row(literal(added), str(len(step.units)), f"{step.map:.4f}", f"{step.drop:+.4f}")
        console.print(table)
    if result.float_map is not None:
        table = Table(
            title=f"mAP50-95 on {literal(result.scoring or '')} (drop: float − int8, 95% bootstrap interval)",
            title_justify="left",
        )
        for name in ("graph", "mAP50-95", "mAP50", "drop", "interval"):
            table.add_column(name, justify="left" if name == "graph" else "right")
        table.add_row("float", f"{result.float_map:.4f}", "", "", "")
        for label, side in (
            ("int8, all but the top-k", result.full),
            (f"int8, keep-float {result.keep_float}", result.final),
        ):
            if side is not None:
                table.add_row(
                    literal(label),
                    f"{side.candidate_map:.4f}",
                    f"{side.candidate_map50:.4f}",
                    f"{side.drop:+.4f}",
                    _interval(side),
                )
        console.print(table)
    kept = ", ".join(result.units) or "(none)"
    console.print(
        f"kept in float: {literal(kept)} ({len(result.nodes)} nodes, "
        f"plus {len(result.always_float)} of the top-k part)",
        highlight=False,
    )
    console.print(f"INT8 graph ({result.backend}) → {literal(result.output)}", highlight=False)
    console.print(
        f"keep-float set (onnxruntime nodes_to_exclude, nncf ignored_scope) → {literal(result.exclusion)}",
        highlight=False,
    )
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result.timings.items() if name != "total")
    console.print(f"time: {spent}", highlight=False)
    if result.final is not None:
        verdict = "within" if result.passed else "MISSES"
        console.print(
            f"{verdict} the budget: mAP50-95 drop {result.final.drop:+.4f} (max {result.budget:g}); "
            f"took {result.timings.get('total', 0):.0f} s",
            highlight=False,
        )
