"""Where a command may write (DESIGN: files are the user's), checked for every output before any work is done.

Every output a command declares (its `-o`, side files such as an export's manifest, `--summary`, `--plot`,
`--json`, a golden folder) is checked against every input and every other output, by resolved path and by inode
(a hard link or a second name of the same file is the same file), and against what its path already holds:

- the folder must exist and be writable;
- the path must not be a symbolic link: nothing is written through a link, which would let whoever placed the
  link choose what gets replaced; the message names the link's target, to give instead;
- an existing path must be a regular file (a folder where a file goes, a device such as /dev/stdout, a FIFO or a
  socket is never replaced), or a folder for a folder output;
- no output may be an input, and no folder output may hold an input;
- no two outputs may be the same file;
- an existing .safetensors is replaced only if it is a dump or an export of this tool (its `format` marker).

Then the scratch files that dead yolo10port processes left in those folders are removed (atomic.py).
Torch-free: `diff` runs this from the light install.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from yolo10port.atomic import remove_stale_scratch
from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT, WEIGHTS_FORMAT, safetensors_metadata

MAX_FOLDER_ENTRIES = 10_000  # an input folder is compared file by file up to this many entries


def _input_files(inputs: Iterable[str | Path | None]) -> list[tuple[Path, os.stat_result]]:
    """Each existing input with its stat (links followed: the file actually read); a folder input (a golden set, a
    Hugging Face snapshot) also brings the files directly inside it."""
    found = []
    for given in inputs:
        if given is None or str(given) == "":
            continue
        path = Path(given)
        try:
            info = path.stat()
        except (OSError, ValueError):
            continue  # not a file (`ones`, `random:0`, `hf:OWNER/NAME`): nothing an output could overwrite
        found.append((path, info))
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(path) as entries:
                    for number, entry in enumerate(entries):
                        if number >= MAX_FOLDER_ENTRIES:
                            break
                        try:
                            found.append((Path(entry.path), entry.stat()))
                        except OSError:
                            continue
            except OSError:
                continue
    return found


def _real(path: Path) -> Path:
    """The path the output lands on: its folder resolved, its own name kept (links at the name are refused)."""
    return Path(os.path.realpath(path.parent if str(path.parent) else ".")) / path.name


def _check_place(label: str, path: Path, folder_output: bool) -> os.stat_result | None:
    """The folder exists and is writable, the name is no link and holds nothing we may not replace; the stat of
    what is there, if anything."""
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(path, f"{label}: output folder {parent} is a file, not a folder")
    if not parent.is_dir():
        raise InputError(path, f"{label}: output folder {parent} does not exist")
    if path.is_symlink():
        raise InputError(
            path,
            f"{label}: is a symbolic link to {os.readlink(path)}; outputs are never written through a link "
            "(give the file it points to, or another name)",
        )
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise InputError(path, f"{label}: cannot be examined ({error.strerror or error})") from None
    if info is not None:
        _check_existing(label, path, info, folder_output)
    if not os.access(parent, os.W_OK):
        raise InputError(path, f"{label}: output folder {parent} is not writable")
    return info


def _check_existing(label: str, path: Path, info: os.stat_result, folder_output: bool) -> None:
    if stat.S_ISDIR(info.st_mode) and not folder_output:
        raise InputError(path, f"{label}: output path is a directory")
    if not stat.S_ISDIR(info.st_mode) and folder_output:
        raise InputError(path, f"{label}: exists and is a file; this output is a folder")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise InputError(
            path,
            f"{label}: is not a regular file (a device, a FIFO or a socket) and is never replaced; "
            "omit the option to print to the terminal where a command can",
        )


def _foreign_safetensors(path: Path) -> bool:
    """A .safetensors file we may not replace: someone's weights, not a dump or export carrying our marker."""
    if path.suffix != ".safetensors":
        return False
    try:
        return safetensors_metadata(path).get("format") not in (DUMP_FORMAT, WEIGHTS_FORMAT)
    except InputError:
        return path.stat().st_size > 0  # unreadable as safetensors: not provably ours (an empty file is harmless)


def guard(
    outputs: Mapping[str, str | Path | None],
    inputs: Iterable[str | Path | None] = (),
    folders: Mapping[str, str | Path | None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> list[Path]:
    """Check every output (label → path; `folders`: outputs that are folders) against every input; InputError
    naming the output and the option on the first problem. Returns the paths checked, in order."""
    inputs_seen = _input_files(inputs)
    declared = [(label, Path(p), False) for label, p in outputs.items() if p is not None and str(p) != ""]
    declared += [(label, Path(p), True) for label, p in (folders or {}).items() if p is not None and str(p) != ""]
    seen: dict[Path, str] = {}
    seen_inodes: dict[tuple[int, int], str] = {}
    for label, path, folder_output in declared:
        info = _check_place(label, path, folder_output)
        real = _real(path)
        for source, source_info in inputs_seen:
            same_inode = info is not None and (info.st_dev, info.st_ino) == (source_info.st_dev, source_info.st_ino)
            if same_inode or real == Path(os.path.realpath(source)):
                raise InputError(path, f"{label}: same as an input file ({source}); choose another output name")
            if folder_output and Path(os.path.realpath(source)).is_relative_to(real):
                raise InputError(path, f"{label}: would be replaced, but it holds the input {source}")
        other = seen.get(real) or (seen_inodes.get((info.st_dev, info.st_ino)) if info is not None else None)
        if other is not None:
            raise InputError(path, f"{label}: the same file as the {other} output; give each output its own name")
        if info is not None and stat.S_ISREG(info.st_mode) and _foreign_safetensors(path):
            raise InputError(
                path,
                f"{label}: exists and is not a dump or export this tool wrote (no {DUMP_FORMAT} or "
                f"{WEIGHTS_FORMAT} marker); nothing was replaced: remove it yourself or choose another name",
            )
        seen[real] = label
        if info is not None:
            seen_inodes[(info.st_dev, info.st_ino)] = label
    for folder in dict.fromkeys(_real(path).parent for _, path, _ in declared):
        for removed, pid in remove_stale_scratch(folder):
            if notify is not None:
                notify(f"removed {removed}, scratch left by yolo10port process {pid}, which is no longer running")
    return [path for _, path, _ in declared]
