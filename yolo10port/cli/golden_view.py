"""How `inspect` shows a golden folder (workflows/golden_inspect.py): a headline, one row per input, the verdict."""

from __future__ import annotations

import json
import sys

from rich.markup import escape
from rich.table import Table

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, out_console
from yolo10port.workflows.golden_inspect import HEADLINE, inspect_golden


def show_golden(folder: str, fmt: str) -> int:
    """Print the inspection; the exit code: 0 intact, 1 a dump missing, changed or not indexed."""
    info = inspect_golden(folder)
    if fmt == "json":
        sys.stdout.write(json.dumps(info.to_json(), indent=1) + "\n")
        return EXIT_PASS if info.intact else EXIT_BREACH
    index = info.index or {}
    kind = f"{index.get('format')} golden set" if info.index else "folder of dumps without index.json (unverified)"
    out_console.print(f"{folder}: {kind}, {len(info.members)} inputs", highlight=False, markup=False)
    for entry in HEADLINE:
        if entry in index:
            out_console.print(f"  {entry}: {index[entry]}", highlight=False, markup=False)
    table = Table("input", "file", "given as", "input spec", "keys", "integrity")
    for m in info.members:
        state = (
            "[green]intact[/]"
            if m.intact and info.index
            else "—"
            if m.intact
            else "[red]" + escape("; ".join(m.problems)) + "[/]"
        )
        table.add_row(*(escape(v) for v in (m.name, m.file, m.given, m.spec, str(m.keys))), state)
    out_console.print(table)
    if info.unlisted:
        out_console.print(f"not in index.json: {', '.join(info.unlisted)}", highlight=False, markup=False)
    if info.index:
        verdict = "intact: every dump present, with the index's sha256 and keys" if info.intact else "NOT intact"
        out_console.print(("[green]" if info.intact else "[bold red]") + verdict + "[/]")
    return EXIT_PASS if info.intact or not info.index else EXIT_BREACH
