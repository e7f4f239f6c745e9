"""The calibration table across scales (`make calibrate`): per scale, the smallest honest margin and the smallest
bug margin, read from the JSON files `selftest --json` wrote.

    python -m yolo10port.workflows.selftest.summary build/calibrate-*.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def summarise(paths: list[Path]) -> list[str]:
    lines = [
        "| scale | honest runs | false alarms | smallest honest margin (candidate, input, row) | bugs × inputs "
        "| missed or misplaced | below the noise | smallest bug excess (bug, input) | not applicable |",
        "|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for path in paths:
        data = json.loads(path.read_text())
        honest = [
            (h["smallest_margin"] if h["smallest_margin"] is not None else math.inf, name, kind, h["at"])
            for name, row in data["honest"].items()
            for kind, h in row.items()
        ]
        margin, name, kind, at = min(honest)
        outcomes = [(o, bug, kind) for bug, row in data["outcomes"].items() for kind, o in row.items()]
        caught = [(o["margin"], bug, kind) for o, bug, kind in outcomes if o["caught"] and o["margin"] is not None]
        excess, bug, bug_kind = min(caught) if caught else (math.nan, "—", "—")
        # A bug that moves its layer less than float32 rounding does (its effect in floors < 1) is below the noise
        # on that input: no tolerance can see it (visibility.py); counted apart from the checker's misses.
        quiet = sum(_below_noise(o) for o, _, _ in outcomes)
        wrong = len(data["misplaced"]) + sum(not o["caught"] and not _below_noise(o) for o, _, _ in outcomes)
        lines.append(
            f"| {data['scale']} | {len(honest)} | {len(data['false_alarms'])} | {margin:.1f}× ({name}, {kind}, {at}) "
            f"| {len(outcomes)} | {wrong} | {quiet} | {excess:.1f}× ({bug}, {bug_kind}) | "
            f"{', '.join(data.get('not_applicable', [])) or '—'} |"
        )
    return lines


def by_candidate(paths: list[Path]) -> list[str]:
    """Per scale, each honest candidate's smallest margin over every input; per bug input, the caught bugs'
    smallest excess over their limit and the bugs that input missed in their own layer."""
    rows, header = [], None
    for path in paths:
        data = json.loads(path.read_text())
        names = list(data["honest"])
        kinds = sorted({kind for row in data["outcomes"].values() for kind in row})
        if header is None:
            header = ["scale", *(f"{n} (smallest margin)" for n in names), *(f"bugs on {k}" for k in kinds)]
            rows += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        cells = [data["scale"]]
        for name in names:
            margins = [h["smallest_margin"] for h in data["honest"][name].values()]
            passed = all(h["passed"] for h in data["honest"][name].values())
            finite = [m for m in margins if m is not None and math.isfinite(m)]
            cells.append(("exact" if not finite else f"{min(finite):.1f}×") + ("" if passed else " FAILS"))
        for kind in kinds:
            found = [(o["margin"], bug) for bug, row in data["outcomes"].items() if (o := row.get(kind))]
            right = [(m, bug) for (m, bug), o in zip(found, (data["outcomes"][b][kind] for _, b in found))
                     if o["caught"] and o["first_failure"] and _at(o["first_failure"], o["expected"])]  # fmt: skip
            quiet = sorted(bug for _, bug in found if _below_noise(data["outcomes"][bug][kind]))
            wrong = sorted({bug for _, bug in found} - {bug for _, bug in right} - set(quiet))
            excess = min((m for m, _ in right if m is not None), default=math.nan)
            cells.append(
                f"{len(right)}/{len(found)} in their layer, ≥ {excess:.1f}×"
                + (f"; not: {', '.join(w.replace('weight×1.001-', '') for w in wrong)}" if wrong else "")
                + (f"; below the noise: {', '.join(q.replace('weight×1.001-', '') for q in quiet)}" if quiet else "")
            )
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _below_noise(outcome: dict) -> bool:
    right = outcome["caught"] and outcome["first_failure"] and _at(outcome["first_failure"], outcome["expected"])
    effect = outcome.get("effect")
    return not right and effect is not None and effect < 1.0


def _at(row: str, layer: str) -> bool:
    return row == layer or row.startswith((f"{layer}/", f"{layer}.", f"{layer}#"))


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]]
    print("\n".join(summarise(paths)))
    print()
    print("\n".join(by_candidate(paths)))


if __name__ == "__main__":
    main()
