"""Reading a file the user named, bounded: regular files only, text inputs capped in size.

A FIFO given as `--input` would block forever, `/dev/zero` as `--tolerances` would be read until memory runs out,
and a 1 GB config.json would be read whole to parse a few keys. Every place that expects a file calls
`regular_file` first, and every text input (TOML, JSON, YAML) is read through `read_text`, which reads at most its
bound and says so when the file is larger. One line, exit 2, naming the file (InputError).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from yolo10port.errors import InputError

# Text inputs (tolerance TOML, config.json, data.yaml, index.json, manifests) are a few kB; 1 MiB is 100× that.
MAX_TEXT_BYTES = 1 << 20


def describe_os_error(error: OSError) -> str:
    """What an OSError on a path means, in words (without repeating the path)."""
    if error.errno == errno.ENAMETOOLONG:
        return "path is longer than the system allows (PATH_MAX / NAME_MAX)"
    if error.errno == errno.ENOENT:
        return "no such file"
    if error.errno == errno.EACCES:
        return "permission denied"
    if error.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    if error.errno == errno.ENOTDIR:
        return "a part of the path is not a folder"
    return error.strerror or type(error).__name__


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` if it names a regular file (symlinks followed); InputError naming it otherwise."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise InputError(path, describe_os_error(error)) from None
    except ValueError:  # an embedded NUL byte
        raise InputError(path, "path holds a NUL byte") from None
    if not stat.S_ISREG(mode):
        raise InputError(path, f"is {_kind(mode)}, not a regular {what}")
    return path


def read_bytes(path: str | os.PathLike, what: str = "file", limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (never more is read); InputError otherwise."""
    path = regular_file(path, what)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise InputError(path, describe_os_error(error)) from None
    if len(data) > limit:
        raise InputError(path, f"{what} is larger than {_size(limit)}, the bound for it")
    return data


def read_text(path: str | os.PathLike, what: str = "text file", limit: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file of at most `limit` bytes (see `read_bytes`)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(path, f"{what} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def _size(limit: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"
