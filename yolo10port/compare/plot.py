"""The per-layer error picture of a diff (`diff --plot`): errors on a log scale against each layer's limit."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from yolo10port.atomic import atomic_path
from yolo10port.compare.engine import Report


def plot_errors(report: Report, path: str | Path) -> Path:
    """Per-layer max-abs and max-rel error on a log scale, each layer's tolerance, the first failure marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    rows = [row for row in report.layers if row.max_abs is not None]
    names = [row.name for row in rows]
    floor = 1e-12  # log axes cannot show 0 (a bit-exact layer); drawn at the floor, said in the legend
    positions = np.arange(len(rows))

    def values(attribute: str) -> list[float]:
        return [max(getattr(row, attribute) or 0.0, floor) if math.isfinite(getattr(row, attribute) or 0.0)
                else 1e30 for row in rows]  # fmt: skip

    figure, axis = plt.subplots(figsize=(max(8, len(rows) * 0.35), 5), layout="constrained")
    axis.semilogy(positions, values("max_abs"), "o-", label="max-abs error")
    axis.semilogy(positions, values("max_rel"), "s--", label="max-rel (÷ max|ref|)", alpha=0.7)
    axis.semilogy(
        positions, [max(row.limit or 0.0, floor) for row in rows], "k:", label="tolerance (atol + rtol·max|ref|)"
    )
    if report.isolated:
        axis.semilogy(positions, values("isolated_max_abs"), "^", label="isolated max-abs", alpha=0.8)
    first = report.first_failure
    if first in names:
        index = names.index(first)
        axis.axvline(index, color="red", alpha=0.5)
        axis.annotate(f"first failure: {first}", (index, values("max_abs")[index]), color="red",
                      xytext=(8, 8), textcoords="offset points")  # fmt: skip
    axis.set_xticks(positions, names, rotation=90, fontsize=7)
    axis.set_ylabel(f"error (0 drawn at {floor:g})")
    axis.set_title(
        f"{'PASS' if report.passed else 'FAIL'}: {Path(report.candidate).name} vs {Path(report.reference).name}"
    )
    axis.legend(fontsize=8)
    axis.grid(True, which="major", alpha=0.3)
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(figure)
    return path
