"""Errors that end a command with exit code 2: a usage or input problem, reported as one line."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A problem with a file or an argument the user gave; the CLI prints it as one line and exits 2."""

    def __init__(self, where: str | Path | None, reason: str):
        self.where = str(where) if where is not None else None
        self.reason = reason
        super().__init__(f"{self.where}: {reason}" if self.where else reason)
