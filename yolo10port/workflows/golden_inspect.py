"""`yolo10port inspect golden/`: what a golden set holds and whether it is intact, with numpy and safetensors only
(the light install inspects the set its CI restored from a cache).

Reads `index.json` (what made the set: weights sha256, versions, imgsz, depth; per input its dump, sha256 and
keys) and checks each dump against it: present, the same bytes (sha256), the same keys and shapes. Dumps in the
folder that the index does not list are reported too. A folder of dumps without an index is listed, unverified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo10port.compare.sets import GOLDEN_INDEX
from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT, safetensors_metadata, sha256_file

GOLDEN_FORMAT = "yolo10port-golden/1"  # as workflows/golden.py writes it (kept torch-free here)
HEADLINE = ("weights", "weights_sha256", "scale", "nc", "ultralytics", "torch", "imgsz", "square", "depth", "dtype")


@dataclass
class GoldenMember:
    name: str
    file: str
    given: str  # the input as given to `golden` (bus.jpg, random:0), or "" without an index
    spec: str  # the dump's input metadata (ones:1x3x640x640, image:bus.jpg:…)
    keys: int
    problems: list[str] = field(default_factory=list)  # empty: intact

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass
class GoldenInspection:
    path: Path
    index: dict[str, Any] | None  # None: a folder of dumps without index.json
    members: list[GoldenMember]
    unlisted: list[str]  # dumps in the folder the index does not list

    @property
    def intact(self) -> bool:
        return self.index is not None and all(m.intact for m in self.members) and not self.unlisted

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "golden",
            "folder": str(self.path),
            "index": {k: v for k, v in (self.index or {}).items() if k != "inputs"} or None,
            "inputs": [
                {
                    "name": m.name,
                    "file": m.file,
                    "input": m.given,
                    "spec": m.spec,
                    "keys": m.keys,
                    "intact": m.intact,
                    "problems": m.problems,
                }
                for m in self.members
            ],
            "not_in_index": self.unlisted,
            "intact": self.intact,
        }


def is_golden_folder(path: str | Path) -> bool:
    """A folder holding index.json, or dumps (not a Hugging Face snapshot's model.safetensors)."""
    folder = Path(path)
    if not folder.is_dir():
        return False
    if (folder / GOLDEN_INDEX).is_file():
        return True
    dumps = sorted(folder.glob("*.safetensors"))
    return bool(dumps) and not (folder / "model.safetensors").exists()


def _dump_keys(path: Path) -> dict[str, list[int]]:
    from yolo10port.dumps.reader import DumpReader

    with DumpReader(path) as reader:
        return {key: list(reader.shape(key)) for key in reader.keys()}


def inspect_golden(path: str | Path) -> GoldenInspection:
    folder = Path(path)
    index = None
    if (folder / GOLDEN_INDEX).is_file():
        try:
            index = json.loads((folder / GOLDEN_INDEX).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(folder / GOLDEN_INDEX, f"not valid JSON ({error})") from None
        if not isinstance(index, dict) or index.get("format") != GOLDEN_FORMAT:
            raise InputError(folder / GOLDEN_INDEX, f"not a golden index (format {GOLDEN_FORMAT} expected)")
    on_disk = {p.name: p for p in sorted(folder.glob("*.safetensors"))}
    members: list[GoldenMember] = []
    listed: set[str] = set()
    entries = (index or {}).get("inputs", {}) if index else {}
    for name, entry in entries.items():
        file = str(entry.get("file", ""))
        listed.add(file)
        member = GoldenMember(name, file, str(entry.get("input", "")), str(entry.get("spec") or ""), 0)
        members.append(member)
        dump = folder / file
        if file not in on_disk:
            member.problems.append("missing")
            continue
        if entry.get("sha256") and sha256_file(dump) != entry["sha256"]:
            member.problems.append("sha256 differs from the index (changed or corrupted)")
        try:
            keys = _dump_keys(dump)
        except InputError as error:
            member.problems.append(error.reason)
            continue
        member.keys = len(keys)
        wanted = {k["key"]: k.get("shape") for k in entry.get("keys", []) if isinstance(k, dict)}
        lacking = [k for k in wanted if k not in keys]
        reshaped = [k for k, shape in wanted.items() if k in keys and shape is not None and keys[k] != shape]
        if lacking:
            member.problems.append(f"{len(lacking)} indexed keys missing (e.g. {lacking[0]})")
        if reshaped:
            member.problems.append(f"{len(reshaped)} keys of another shape (e.g. {reshaped[0]})")
    unlisted = [name for name in on_disk if name not in listed]
    if index is None:  # no index: every dump is listed as it is, nothing can be verified
        for name in unlisted:
            meta = safetensors_metadata(on_disk[name])
            if meta.get("format") != DUMP_FORMAT:
                raise InputError(on_disk[name], f"not a yolo10port dump (format {DUMP_FORMAT} expected)")
            members.append(
                GoldenMember(Path(name).stem, name, "", meta.get("input", ""), len(_dump_keys(on_disk[name])))
            )
        unlisted = []
    if not members:
        raise InputError(folder, "holds neither index.json nor .safetensors dumps: not a golden set")
    return GoldenInspection(folder, index, members, unlisted)
