"""The error picture of a diff (`diff --plot`): one row per layer, read top to bottom like the network.

Left: each layer's max-abs error and its limit on a log scale. Right: error ÷ limit, the verdict at a glance —
left of the line at 1 passes, right of it fails — with a green dot or a red cross per layer, so a point sitting on
the limit is still told apart. A depth-all diff (hundreds of rows) is drawn as its top-level layers, each shown by
its worst submodule and named, so the picture stays readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo10port.atomic import atomic_path
from yolo10port.compare.engine import LayerRow, Report
from yolo10port.compare.input_check import INPUT_RULE
from yolo10port.dumps.keys import top_level_index

FLOOR = 1e-12  # log axes cannot show 0 (a bit-exact row): drawn here, and said in the legend
MAX_ROWS = 40  # beyond this, rows are grouped by top-level layer


@dataclass
class Point:
    label: str
    row: LayerRow

    @property
    def ratio(self) -> float:
        row = self.row
        if row.max_abs is None or not math.isfinite(row.max_abs):
            return math.inf
        return row.max_abs / row.limit if row.limit else (0.0 if row.max_abs == 0 else math.inf)


def _points(report: Report) -> tuple[list[Point], str]:
    rows = [row for row in report.layers if row.rule != INPUT_RULE and (row.max_abs is not None or not row.passed)]
    if len(rows) <= MAX_ROWS:
        return [Point(row.name, row) for row in rows], ""
    groups: dict[str, list[LayerRow]] = {}
    for row in rows:
        index = top_level_index(row.name)
        top = row.name.split("/")[0] if index == 23 and "/" in row.name else f"model.{index}"
        groups.setdefault(top if index is not None else row.name, []).append(row)
    points = []
    for top, members in groups.items():
        worst = max(members, key=lambda r: Point(r.name, r).ratio)
        if Point(worst.name, worst).ratio == 0:  # every row exact: no submodule is worse than another
            worst = next((r for r in members if r.name == top), worst)
        label = top if worst.name == top else f"{top}  (worst: {worst.name.removeprefix(top)})"
        points.append(Point(label, worst))
    return points, f"{len(rows)} rows, each layer shown by its worst submodule"


def _values(points: list[Point], attribute: str) -> np.ndarray:
    out = []
    for point in points:
        value = getattr(point.row, attribute)
        out.append(FLOOR if value is None or value == 0 else (1e30 if not math.isfinite(value) else max(value, FLOOR)))
    return np.array(out)


def plot_errors(report: Report, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    points, grouping = _points(report)
    count = max(len(points), 1)
    figure, (errors, ratios) = plt.subplots(
        1, 2, figsize=(13, 1.8 + 0.3 * count), sharey=True, layout="constrained", gridspec_kw={"width_ratios": [3, 2]}
    )
    y = np.arange(len(points))
    passed = np.array([p.row.passed for p in points], dtype=bool)
    max_abs, limits = _values(points, "max_abs"), _values(points, "limit")
    errors.scatter(max_abs[passed], y[passed], marker="o", color="tab:green", label="max-abs, passes", zorder=3)
    errors.scatter(max_abs[~passed], y[~passed], marker="X", s=70, color="tab:red", label="max-abs, fails", zorder=3)
    errors.scatter(limits, y, marker="|", s=160, color="black", label="limit", zorder=2)
    if report.isolated:
        isolated = _values(points, "isolated_max_abs")
        errors.scatter(isolated, y, marker="^", color="tab:blue", alpha=0.6, label="isolated max-abs", zorder=2)
    errors.set_xscale("log")
    errors.set_xlabel(f"error (0 drawn at {FLOOR:g})")

    ratio = np.array([min(max(p.ratio, 1e-6), 1e6) for p in points])
    ratios.scatter(ratio[passed], y[passed], marker="o", color="tab:green", zorder=3)
    ratios.scatter(ratio[~passed], y[~passed], marker="X", s=70, color="tab:red", zorder=3)
    ratios.axvline(1.0, color="black", linestyle=":")
    ratios.set_xscale("log")
    ratios.set_xlabel("max-abs ÷ limit (> 1 fails; exact drawn at 1e-6)")
    figure.legend(loc="outside lower center", ncols=5, fontsize=8)

    first = report.first_failure
    is_first = [point.row.name == first or point.label.split("  ")[0] == first for point in points]
    labels = [f"{p.label}  ◀ first failure" if mark else p.label for p, mark in zip(points, is_first)]
    errors.set_yticks(y, labels, fontsize=8)
    errors.invert_yaxis()  # the network read top to bottom
    for tick, point, mark in zip(errors.get_yticklabels(), points, is_first):
        if not point.row.passed:
            tick.set_color("tab:red")
        if mark:
            tick.set_fontweight("bold")
    for axis in (errors, ratios):
        axis.grid(True, which="major", alpha=0.3)
    verdict = "PASS" if report.passed else f"FAIL, first failure at {first}"
    subtitle = f"; {grouping}" if grouping else ""
    figure.suptitle(
        f"{verdict}: reference {Path(report.label('reference')).name} · candidate "
        f"{Path(report.label('candidate')).name}{subtitle}",  # argument order, as the tables read
        fontsize=10,
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(figure)
    return path
