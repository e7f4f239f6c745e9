"""The error picture of a diff (`diff --plot`): one row per layer, read top to bottom like the network.

Left: each layer's max-abs error and its limit on a log scale. Right: error ÷ limit, the verdict at a glance —
left of the line at 1 passes, right of it fails — with a green dot or a red cross per layer, so a point sitting on
the limit is still told apart. A depth-all diff (hundreds of rows) is drawn as its top-level layers (the head as
boxes and scores), each as one row, named: a failing layer by the submodule isolated error points at, else by its
first failing one; a passing layer by the submodule closest to its limit; an exact one by nothing.
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

FLOOR = 1e-12  # log axes cannot show 0 (a bit-exact row): where it is drawn when nothing else is non-zero
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


def _group_of(name: str) -> str:
    """The drawn row a depth-all key belongs to: its top-level layer; in the head, the row its branch feeds
    (`model.23/boxes`: the box branch one2one_cv2 and the DFL; `model.23/scores`: the class branch one2one_cv3)."""
    index = top_level_index(name)
    if index is None:
        return name
    if index == 23:
        if "/" in name:
            return name
        return "model.23/scores" if ".one2one_cv3" in name or ".cv3" in name else "model.23/boxes"
    return f"model.{index}"


def _representative(top: str, members: list[LayerRow], culprit: str | None) -> tuple[LayerRow, str]:
    """The row a group is drawn as, and what its label says about it: a failing layer by the module isolated error
    points at, else its first failing submodule in execution order (where the error starts, not where it is
    largest); a passing one by the row closest to its limit; an exact one by itself, with nothing named."""
    failing = [r for r in members if not r.passed]
    if failing:
        chosen = next((r for r in failing if r.name == culprit), None)
        why = "isolated culprit" if chosen is not None else "first failing"
        chosen = chosen or failing[0]
    else:
        chosen = max(members, key=lambda r: Point(r.name, r).ratio)
        why = "closest to its limit"
        if Point(chosen.name, chosen).ratio == 0:  # every row exact: no submodule is worse than another
            return next((r for r in members if r.name == top), chosen), ""
    if chosen.name == top:
        return chosen, ""
    return chosen, f"{why}: {chosen.name.removeprefix(top.split('/')[0])}"


def _points(report: Report) -> tuple[list[Point], str]:
    rows = [row for row in report.layers if row.rule != INPUT_RULE and (row.max_abs is not None or not row.passed)]
    if len(rows) <= MAX_ROWS:
        return [Point(row.name, row) for row in rows], ""
    groups: dict[str, list[LayerRow]] = {}
    for row in rows:
        groups.setdefault(_group_of(row.name), []).append(row)
    points = []
    for top, members in groups.items():
        row, said = _representative(top, members, report.culprit)
        points.append(Point(f"{top}  ({said})" if said else top, row))
    how = "; a failing layer drawn by its first failing submodule" if any(not r.passed for r in rows) else ""
    return points, f"{len(rows)} rows, one per layer{how}"


def _floor(points: list[Point], attributes: tuple[str, ...]) -> float:
    """Where an exact (0) value is drawn on a log axis: a decade below the smallest non-zero value shown, so that
    exact rows sit at the edge instead of squeezing the useful range (a fixed 1e-12 took three quarters of it)."""
    values = [getattr(p.row, a) for p in points for a in attributes if getattr(p.row, a) not in (None, 0)]
    finite = [v for v in values if math.isfinite(v) and v > 0]
    return 10 ** (math.floor(math.log10(min(finite))) - 1) if finite else 1e-12


def _values(points: list[Point], attribute: str, floor: float = FLOOR) -> np.ndarray:
    out = []
    for point in points:
        value = getattr(point.row, attribute)
        out.append(floor if value is None or value == 0 else (1e30 if not math.isfinite(value) else max(value, floor)))
    return np.array(out)


def plot_errors(report: Report, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # an .svg keeps its labels as text (searchable, testable)

    points, grouping = _points(report)
    count = max(len(points), 1)
    figure, (errors, ratios) = plt.subplots(
        1, 2, figsize=(13, 1.8 + 0.3 * count), sharey=True, layout="constrained", gridspec_kw={"width_ratios": [3, 2]}
    )
    y = np.arange(len(points))
    passed = np.array([p.row.passed for p in points], dtype=bool)
    floor = _floor(points, ("max_abs", "limit", "isolated_max_abs"))
    max_abs, limits = _values(points, "max_abs", floor), _values(points, "limit", floor)
    errors.scatter(max_abs[passed], y[passed], marker="o", color="tab:green", label="max-abs, passes", zorder=3)
    errors.scatter(max_abs[~passed], y[~passed], marker="X", s=70, color="tab:red", label="max-abs, fails", zorder=3)
    errors.scatter(limits, y, marker="|", s=160, color="black", label="limit", zorder=2)
    if report.isolated:
        isolated = _values(points, "isolated_max_abs", floor)
        errors.scatter(isolated, y, marker="^", color="tab:blue", alpha=0.6, label="isolated max-abs", zorder=2)
    errors.set_xscale("log")
    exact = any(p.row.max_abs == 0 for p in points)
    errors.set_xlabel("max-abs error and its limit" + (f" (exact, 0, drawn at {floor:.0e})" if exact else ""))

    nonzero = [p.ratio for p in points if 0 < p.ratio < math.inf]
    ratio_floor = 10 ** (math.floor(math.log10(min(nonzero))) - 1) if nonzero else 1e-6
    ratio = np.array([min(max(p.ratio, ratio_floor), 1e6) for p in points])
    ratios.scatter(ratio[passed], y[passed], marker="o", color="tab:green", zorder=3)
    ratios.scatter(ratio[~passed], y[~passed], marker="X", s=70, color="tab:red", zorder=3)
    ratios.axvline(1.0, color="black", linestyle=":")
    ratios.set_xscale("log")
    ratios.set_xlabel("max-abs ÷ limit (> 1 fails" + (f"; exact drawn at {ratio_floor:.0e})" if exact else ")"))
    figure.legend(loc="outside lower center", ncols=5, fontsize=8)

    first = report.first_failure
    first_group = _group_of(first) if first else None
    is_first = [point.row.name == first or point.label.split("  ")[0] == first_group for point in points]
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
