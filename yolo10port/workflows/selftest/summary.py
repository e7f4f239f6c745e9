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
        "| missed or misplaced | smallest bug excess (bug, input) | not applicable |",
        "|---|---:|---:|---|---:|---:|---|---|",
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
        wrong = len(data["misplaced"]) + sum(not o["caught"] for o, _, _ in outcomes)
        lines.append(
            f"| {data['scale']} | {len(honest)} | {len(data['false_alarms'])} | {margin:.1f}× ({name}, {kind}, {at}) "
            f"| {len(outcomes)} | {wrong} | {excess:.1f}× ({bug}, {bug_kind}) | "
            f"{', '.join(data.get('not_applicable', [])) or '—'} |"
        )
    return lines


def main() -> None:
    print("\n".join(summarise([Path(p) for p in sys.argv[1:]])))


if __name__ == "__main__":
    main()
