"""The smallest weight error caught per layer, at a precision (issue 23; README, "Reduced precision").

For each layer model.0 … model.22 and each input, one weight tensor (its first conv's; the output of a weightless
layer) is scaled by rising factors, the clean model computes in the precision asked, and the checker judges it by
that precision's floor: the first factor caught in the bug's own layer is that layer's smallest catchable weight
error, with its excess (error ÷ limit). Each layer starts at the middle factor and moves down while caught, up
while not, so three factors cost two runs a layer and input.

    python -m yolo10port.workflows.selftest.sweep MODEL --precision float16 --imgsz 256 \
        --inputs random:0,bus.jpg --factors 1.003,1.01,1.03 --json build/sweep-float16.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from yolo10port.dumps.spec import RunSpec
from yolo10port.weights.reader import read_weights
from yolo10port.workflows.check import run_check
from yolo10port.workflows.selftest.mutations import weight_scaled
from yolo10port.workflows.selftest.run import at_layer, bundled_image

LAYERS = range(23)


def _caught(weights, folder: Path, run: RunSpec, index: int, factor: float, precision: str | None):
    """(caught in its layer, excess over the limit at the first failing row, where it failed first)."""
    report = run_check(
        weights, folder, run, mutate=weight_scaled(index, factor), reuse=True, isolated=False, precision=precision
    ).report
    rows = {row.name: row for row in report.layers}
    first = rows.get(report.first_failure or "")
    excess = 1 / first.margin if first is not None and first.margin else None
    if report.passed:  # how close it came: the bug's own layer's error ÷ limit
        own = [row for row in report.layers if at_layer(row.name, f"model.{index}") and row.margin]
        excess = max((1 / row.margin for row in own), default=None)
    return (not report.passed and at_layer(report.first_failure, f"model.{index}")), excess, report.first_failure


def sweep(
    model: Path,
    inputs: dict[str, str],
    factors: list[float],
    imgsz: int,
    precision: str | None,
    folder: Path,
    save=lambda _result: None,
) -> dict:
    weights = read_weights(model)
    factors = sorted(factors)
    result = {"model": str(model), "precision": precision or "float32", "imgsz": imgsz, "factors": factors}
    result["layers"] = {}
    for kind, spec in inputs.items():
        run = RunSpec(input=spec, imgsz=imgsz)
        where = folder / kind.replace(":", "-")
        for index in LAYERS:
            tried: dict[str, dict] = {}
            position = len(factors) // 2
            while 0 <= position < len(factors):
                factor = factors[position]
                caught, excess, first = _caught(weights, where, run, index, factor, precision)
                tried[f"{factor:g}"] = {"caught": caught, "excess": excess, "first_failure": first}
                following = position - 1 if caught else position + 1  # caught: a smaller one; missed: a larger one
                if not 0 <= following < len(factors) or f"{factors[following]:g}" in tried:
                    break
                position = following
            smallest = min((float(f) for f, t in tried.items() if t["caught"]), default=None)
            result["layers"].setdefault(f"model.{index}", {})[kind] = {"smallest_caught": smallest, "tried": tried}
            save(result)
    return result


def table(result: dict) -> list[str]:
    kinds = sorted({kind for row in result["layers"].values() for kind in row})
    lines = ["| layer | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for layer, row in result["layers"].items():
        cells = []
        for kind in kinds:
            entry = row.get(kind)
            if entry is None:
                cells.append("—")
                continue
            smallest = entry["smallest_caught"]
            if smallest is None:
                largest = max(entry["tried"], key=float)
                excess = entry["tried"][largest]["excess"]
                cells.append(f"not at ×{largest} ({excess:.2f}× of the limit)" if excess else f"not at ×{largest}")
            else:
                excess = entry["tried"][f"{smallest:g}"]["excess"]
                cells.append(f"×{smallest:g} ({excess:.1f}×)")
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="the smallest weight error caught per layer, at a precision")
    parser.add_argument("model", type=Path)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--inputs", default="random:0,bus.jpg")
    parser.add_argument("--factors", default="1.003,1.01,1.03")
    parser.add_argument("--folder", type=Path, default=Path("build/sweep"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    inputs = {
        part: bundled_image(part) if part in ("bus.jpg", "zidane.jpg") else part
        for part in (p.strip() for p in args.inputs.split(","))
        if part
    }
    factors = [float(f) for f in args.factors.split(",")]
    folder = args.folder / (args.precision or "float32")

    def save(result: dict) -> None:
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))

    result = sweep(args.model, inputs, factors, args.imgsz, args.precision, folder, save)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
