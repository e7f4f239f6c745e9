"""`yolo10port golden`: the reference dumps a port's CI compares against, made once with ultralytics, then kept.

A golden set is a folder: one reference dump per input, named by a safe form of the input (`ones`, `random-0`,
`bus`), each with its own noise floor, and `index.json`, which says what made them (weights sha256, ultralytics and
torch versions, imgsz, depth) and, per input, every key with its shape and floor. Kept in a cache or an artifact,
it lets every later CI job compare with the light install (`yolo10port diff golden/ cand/`: numpy and safetensors,
no torch, no ultralytics), and the index is what a cache key and a foreign reader need, without yolo10port.

The folder is built beside its destination and renamed into place only when every dump is written: an interrupted
run never leaves a half golden set that a later `diff` would take for a whole one. An existing folder is replaced
only when it provably is a golden set this tool wrote: its index.json carries the golden format, and it holds
nothing but the files that index lists. Anything else (a folder that merely has an index.json, a set someone
added a file to) is refused, and nothing is touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yolo10port import __version__
from yolo10port.atomic import scratch_path, write_error
from yolo10port.compare.sets import GOLDEN_INDEX  # `index.json`: diff of two folders pairs only the dumps
from yolo10port.dumps.keys import DECODED_HEAD
from yolo10port.dumps.spec import RunSpec, resolve_input
from yolo10port.errors import InputError
from yolo10port.formats import GOLDEN_FORMAT, sha256_file

DEFAULT_INPUTS = "ones,random:0,bus.jpg"  # ones alone hides a channel-order bug (its channels are identical)


@dataclass(frozen=True)
class GoldenInput:
    given: str  # as written on the command line: `random:0`, `bus.jpg`
    source: str  # what is fed: the same, or the path of ultralytics' bundled photo
    name: str  # the dump's file stem: `random-0`, `bus`

    @property
    def file(self) -> str:
        return f"{self.name}.safetensors"


def safe_name(given: str) -> str:
    """The file stem a golden dump of this input gets: `ones`, `random:0` → `random-0`, `photos/bus.jpg` → `bus`.

    A candidate's dump must carry the same stem (diff pairs the two folders by file name), so the rule is simple
    enough to apply by hand: the file's stem for a path, `:` and anything unusual turned into `-`."""
    is_spec = given in ("ones", "zeros") or given.startswith("random:")
    stem = given if is_spec else Path(given).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")


def parse_inputs(text: str) -> list[GoldenInput]:
    """`ones,random:0,bus.jpg` → the inputs, each with its file stem; InputError on an empty list or two inputs
    that would share a file name."""
    inputs: list[GoldenInput] = []
    taken: dict[str, str] = {}
    for given in _expand_folders(part.strip() for part in text.split(",")):
        if not given:
            continue
        source = resolve_input(given)  # the resolver every command uses
        name = safe_name(given)
        if not name:
            raise InputError("--inputs", f"{given!r} gives no usable file name")
        if name in taken:
            raise InputError("--inputs", f"{taken[name]!r} and {given!r} would both be written as {name}.safetensors")
        taken[name] = given
        inputs.append(GoldenInput(given, source, name))
    if not inputs:
        raise InputError("--inputs", "no input given (e.g. --inputs ones,random:0,bus.jpg)")
    return inputs


def _expand_folders(parts):
    """A folder among the inputs stands for every image in it (recursively, sorted): the reference side of
    `val`, written once (`golden MODEL --inputs IMAGES/ --detections-only`)."""
    from yolo10port.workflows.val_data import images_in

    for part in parts:
        if part and Path(part).is_dir():
            found = images_in(Path(part))
            if not found:
                raise InputError("--inputs", f"the folder {part} holds no images")
            yield from (str(image) for image in found)
        else:
            yield part


def check_inputs(inputs: list[GoldenInput], spec: RunSpec) -> None:
    """Build every input once before any dump runs: a bad one fails in a second, not after minutes of others."""
    from yolo10port.dumps.inputs import make_input

    for item in inputs:
        try:
            make_input(spec.but(input=item.source))
        except InputError as error:
            raise InputError("--inputs", f"{item.given!r}: {error.reason}") from None


MAX_INDEX_BYTES = 64 << 20  # an index lists keys and floors: a few hundred kB at --depth all


def not_ours(folder: Path) -> str | None:
    """Why `folder` cannot be proven to be a golden set this tool wrote, or None when it is one: its index.json
    carries GOLDEN_FORMAT, and it holds nothing but that index and the dump files the index lists."""
    index = folder / GOLDEN_INDEX
    if index.is_symlink() or not index.is_file():
        return f"no {GOLDEN_INDEX}"
    if index.stat().st_size > MAX_INDEX_BYTES:
        return f"its {GOLDEN_INDEX} is larger than any golden index"
    try:
        data = json.loads(index.read_bytes())
    except (OSError, ValueError):
        return f"its {GOLDEN_INDEX} is not JSON"
    if not isinstance(data, dict) or data.get("format") != GOLDEN_FORMAT:
        return f"its {GOLDEN_INDEX} does not say format {GOLDEN_FORMAT}"
    entries = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
    listed = (entry.get("file") for entry in entries.values() if isinstance(entry, dict))
    own = {GOLDEN_INDEX} | {name for name in listed if isinstance(name, str)}
    others = sorted(p.name for p in folder.iterdir() if p.name not in own or p.is_dir() and not p.is_symlink())
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        return f"it also holds {others[0]}{more}, which the set's {GOLDEN_INDEX} does not list"
    return None


def check_destination(out: Path, *sources: Path) -> None:
    """`out` may be missing, empty or a golden set this tool wrote (replaced whole); anything else is refused, so
    that a typo in -o never deletes a folder of other files."""
    from yolo10port.outputs import guard

    guard({}, sources, folders={"-o": out})  # folder writable, no link, not an input, holds no input
    if not out.exists() or not any(out.iterdir()):
        return
    why = not_ours(out)
    if why is not None:
        raise InputError(out, f"exists and is not a golden set this tool wrote ({why}); nothing was replaced")


def input_entry(item: GoldenInput, dump: Path) -> dict:
    """One input's part of the index: its file, what it was fed, and each key's shape, dtype and noise floor
    (per row it is judged as: `model.23` → `model.23/boxes`, `model.23/scores`), as `inspect --format json`
    lists them."""
    from yolo10port.workflows.inspect import inspect_dump

    info = inspect_dump(dump)
    return {
        "file": dump.name,
        "input": item.given,
        "spec": info.metadata.get("input"),
        "sha256": sha256_file(dump),
        "keys": [{"key": k.key, "shape": k.shape, "dtype": k.dtype, "noise_floor": k.floors} for k in info.keys],
    }


def render_index(index: dict) -> str:
    """The index as indented JSON with one line per key entry: an input reads as 26 lines, not 300."""
    lines: dict[str, str] = {}

    def one_line(entry: dict) -> str:
        token = f"@key{len(lines)}@"
        lines[token] = json.dumps(entry)
        return token

    shown = {**index, "inputs": {}}
    for name, entry in index["inputs"].items():
        shown["inputs"][name] = {**entry, "keys": [one_line(key) for key in entry["keys"]]}
    text = json.dumps(shown, indent=1)
    for token, line in lines.items():
        text = text.replace(f'"{token}"', line, 1)
    return text + "\n"


def make_golden(
    weights_path: str | Path,
    out: str | Path,
    inputs: list[GoldenInput],
    spec: RunSpec = RunSpec(),
    progress: Callable[[str], None] = lambda _line: None,
    detections_only: bool = False,
    floors: tuple[str, ...] = (),
) -> Path:
    """One reference dump per input (with its noise floor) and `index.json`, in the folder `out`, atomically.

    `detections_only`: each dump holds only `input`, the decoded head (`model.23`) and `detections`: what `val`
    compares, small enough for a folder of hundreds of images."""
    out = Path(out)
    if detections_only:
        spec = spec.but(depth=1, within=DECODED_HEAD)
    sources = (Path(weights_path), *(Path(i.source) for i in inputs))
    check_destination(out, *sources)
    check_inputs(inputs, spec)
    import torch

    from yolo10port.reference.dump import dump_reference
    from yolo10port.reference.network import ultralytics_version
    from yolo10port.weights.reader import read_weights

    weights = read_weights(weights_path)
    # What `sha256sum WEIGHTS` prints, the CI cache key's half; a folder (a snapshot) has the reader's digest.
    file_sha256 = sha256_file(Path(weights_path)) if Path(weights_path).is_file() else weights.source_sha256
    index = {
        "format": GOLDEN_FORMAT,
        "tool": f"yolo10port {__version__}",
        "weights": Path(weights_path).name,
        "weights_sha256": file_sha256,
        # A yolo10port .safetensors export remembers the checkpoint it came from: kept when that is another file.
        **({"source_sha256": weights.source_sha256} if weights.source_sha256 not in (None, "", file_sha256) else {}),
        "scale": weights.scale,
        "nc": weights.nc,
        "ultralytics": ultralytics_version().removeprefix("ultralytics "),
        "torch": torch.__version__,
        "imgsz": spec.imgsz,
        "square": spec.square,
        "batch": spec.batch,
        "depth": "detections" if detections_only else spec.depth_label,
        "with_inputs": spec.with_inputs,
        "dtype": spec.dtype,
        **({"floors": list(floors)} if floors else {}),
        "inputs": {},
    }
    scratch = scratch_path(out, "golden")
    try:
        os.mkdir(scratch, 0o700)
    except OSError as error:
        raise write_error(out, error) from None
    try:
        for number, item in enumerate(inputs, 1):
            started = time.perf_counter()
            progress(f"[{number}/{len(inputs)}] {item.given}: ultralytics in float32, then float64 (noise floor)…")
            dump = dump_reference(weights, scratch / item.file, spec.but(input=item.source), floors=floors)
            index["inputs"][item.name] = entry = input_entry(item, dump)
            if Path(item.source).is_file() and Path(item.source).suffix != ".safetensors":
                from yolo10port.dumps.inputs import read_image

                # The original image's size: `val` maps boxes back to it, from the light install (no OpenCV).
                entry["image_hw"] = list(read_image(item.source).shape[:2])
            seconds = time.perf_counter() - started
            progress(f"[{number}/{len(inputs)}] {item.given} → {item.file}: {len(entry['keys'])} keys, {seconds:.1f} s")
        (scratch / GOLDEN_INDEX).write_text(render_index(index))
        os.chmod(scratch, 0o755)  # made 0700 while being built: a cache or a colleague must be able to read it
        check_destination(out, *sources)  # again, just before replacing: nothing may have been added meanwhile
        _move_into_place(scratch, out)
    except OSError as error:  # a full disk while writing the index or renaming: one line, nothing left behind
        shutil.rmtree(scratch, ignore_errors=True)
        raise write_error(out, error) from None
    except InputError as error:  # a dump that could not be written names the folder the user gave, not the scratch
        shutil.rmtree(scratch, ignore_errors=True)
        if error.where is not None and Path(error.where).absolute().is_relative_to(scratch.absolute()):
            raise InputError(out, error.reason) from None
        raise
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return out


def _move_into_place(built: Path, out: Path) -> None:
    """Rename the finished folder onto `out`; an earlier golden set there is moved aside first, then deleted."""
    if not out.exists():
        os.replace(built, out)
        return
    old = scratch_path(out, "old")
    os.mkdir(old, 0o700)
    os.replace(out, old / out.name)
    try:
        os.replace(built, out)
    except OSError:
        os.replace(old / out.name, out)  # put the earlier set back rather than leave nothing
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
