"""The CLI side of output safety (yolo10port/outputs.py): check every output of a command against its inputs
before any work, say so when stale scratch files of dead runs were removed, commit multi-file outputs together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from yolo10port.atomic import OutputTransaction
from yolo10port.cli.app import err_console


def note(line: str) -> None:
    err_console.print(f"note: {line}", highlight=False, markup=False, style="yellow")


def guard_outputs(
    outputs: Mapping[str, str | Path | None],
    inputs: Iterable[str | Path | None] = (),
    folders: Mapping[str, str | Path | None] | None = None,
) -> OutputTransaction:
    """Exit 2 before any work if an output cannot be written or would replace an input; the returned transaction,
    used as `with` around the work, renames every output into place together at the end, or none."""
    from yolo10port.outputs import guard

    return OutputTransaction(guard(outputs, inputs, folders, notify=note))
