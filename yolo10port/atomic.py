"""Atomic output files: write beside the target, rename into place only when complete.

A crash, an exception or Ctrl-C therefore never leaves a partial output file behind (DESIGN: exit codes). Three
more promises live here (DESIGN: files are the user's):

- scratch names always fit NAME_MAX (a long output name is shortened and hashed in its scratch name), and they
  say which process on which machine made them, so that the scratch of a process that died (SIGKILL, power loss)
  is recognised and removed by the next command that writes into that folder (`remove_stale_scratch`);
- the outputs a command declares commit together (`OutputTransaction`): each is written to its scratch file, and
  the renames into place happen only once every one of them is complete; any failure removes them all.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from yolo10port.errors import InputError

NAME_MAX = 255  # bytes, on every common local file system (ext4, xfs, btrfs, tmpfs, APFS, NTFS in UTF-16 units)
SCRATCH_MARK = "yolo10port"
# `.NAME.yolo10port-HOST-PID-RANDOM[.KIND].partial`: HOST is a short hash of the machine's name, so that a folder
# shared over the network is never cleaned of the scratch of a process alive on another machine.
SCRATCH_NAME = re.compile(
    rf"^\..+\.{SCRATCH_MARK}-(?P<host>[0-9a-f]{{6}})-(?P<pid>[0-9]+)-[0-9a-f]{{8}}(\.[a-z]+)?\.partial$"
)


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def scratch_path(target: str | Path, kind: str = "") -> Path:
    """A fresh hidden name beside `target` for its scratch file or folder, within NAME_MAX however long the
    target's own name is (a legal 255-byte output name must work)."""
    target = Path(target)
    suffix = f".{SCRATCH_MARK}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}{'.' + kind if kind else ''}.partial"
    stem = target.name
    room = NAME_MAX - 1 - len(suffix.encode())
    if len(stem.encode()) > room:  # keep a readable start of the name, and a hash of the whole so it stays unique
        digest = hashlib.sha256(stem.encode()).hexdigest()[:12]
        stem = stem.encode()[: room - len(digest) - 1].decode("utf-8", "ignore") + "~" + digest
    return target.parent / f".{stem}{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process: alive, and not ours to judge
    return True


def stale_scratch(folder: str | Path) -> list[tuple[Path, int]]:
    """Scratch files and folders in `folder` left by a yolo10port process of this machine that is gone, with its
    pid. Only names of our own pattern are ever considered: a user's file never matches it by chance."""
    found = []
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        match = SCRATCH_NAME.match(entry.name)
        if match and match["host"] == host and not _alive(int(match["pid"])):
            found.append((Path(entry.path), int(match["pid"])))
    return found


def remove_stale_scratch(folder: str | Path) -> list[tuple[Path, int]]:
    """Remove what `stale_scratch` finds; returns what was removed (a caller says so to the user)."""
    removed = []
    for path, pid in stale_scratch(folder):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append((path, pid))
    return removed


def _key(path: Path) -> Path:
    """Where `path` really lands: its folder resolved (a symlinked folder is the same folder), its name kept."""
    path = Path(path)
    return Path(os.path.realpath(path.parent if str(path.parent) else ".")) / path.name


_CURRENT: contextvars.ContextVar[OutputTransaction | None] = contextvars.ContextVar("output_transaction", default=None)


class OutputTransaction:
    """The declared outputs of one command, committed together: `atomic_path` on one of them stages its finished
    scratch file here instead of renaming it; leaving the block without an exception renames them all, an
    exception (an input error, a full disk on the last file, Ctrl-C) removes them all. Other files written
    meanwhile (a scratch folder's dumps, read back later) are renamed at once as usual."""

    def __init__(self, targets: Iterable[str | Path | None]):
        self.targets = {_key(Path(t)) for t in targets if t is not None}
        self.staged: list[tuple[Path, Path]] = []  # (finished scratch file, its target)
        self._token = None

    def declares(self, path: Path) -> bool:
        return _key(path) in self.targets

    def __enter__(self) -> OutputTransaction:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, kind, error, traceback) -> None:
        _CURRENT.reset(self._token)
        if kind is None:
            self.commit()
        else:
            self.rollback()

    def commit(self) -> None:
        for number, (tmp, path) in enumerate(self.staged):
            try:
                os.replace(tmp, path)
            except OSError as failure:
                for rest, _ in self.staged[number:]:
                    rest.unlink(missing_ok=True)
                raise write_error(path, failure) from None
        self.staged.clear()

    def rollback(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)
        self.staged.clear()


def check_output_path(path: Path, *inputs: Path) -> None:
    """Refuse an output path that cannot be written or would replace an input (yolo10port/outputs.py)."""
    from yolo10port.outputs import guard

    guard({"-o": path}, inputs)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a scratch path in the target's folder; rename it onto `path` if the block succeeds (or, for an
    output of the open OutputTransaction, when the whole transaction does)."""
    path = Path(path)
    tmp_path = scratch_path(path)
    try:
        os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as error:
        raise write_error(path, error) from None
    transaction = _CURRENT.get()
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        if transaction is not None and transaction.declares(path):
            transaction.staged.append((tmp_path, path))
        else:
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
