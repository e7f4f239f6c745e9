"""Atomic output files: write beside the target, rename into place only when complete.

A crash, an exception or Ctrl-C therefore never leaves a partial output file behind (DESIGN: exit codes).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from yolo10port.errors import InputError


def check_output_path(path: Path, *inputs: Path) -> None:
    """Refuse an output path whose folder is missing or that would overwrite one of the inputs."""
    folder = path.parent if str(path.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise InputError(path, f"output folder {folder} is a file, not a folder")
    if not folder.is_dir():
        raise InputError(path, f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(path, f"output folder {folder} is not writable")
    if path.is_dir():
        raise InputError(path, "output path is a directory")
    for source in inputs:
        if path.exists() and source.exists() and path.resolve() == source.resolve():
            raise InputError(path, "output path is the same as an input file")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` if the block succeeds."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
    except OSError as error:
        raise write_error(path, error) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except OSError as error:
        tmp_path.unlink(missing_ok=True)
        raise write_error(path, error) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_error(path: Path, error: OSError) -> InputError:
    """A full disk (ENOSPC), a file-size limit (EFBIG), a read-only folder: one line naming the output."""
    return InputError(path, f"cannot write the output ({error.strerror or error}); nothing was written")


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
