"""Hugging Face snapshots of YOLOv10 weights: the folder, its `model.safetensors`, or `hf:OWNER/NAME` from the cache.

The YOLOv10 authors publish `jameslahm/yolov10{n,s,m,b,l,x}` on the hub through huggingface_hub's
`PyTorchModelHubMixin`: a folder with `model.safetensors` (the state dict of a wrapper whose `.model` is the
DetectionModel, so keys read `model.model.0.conv.weight`; fp32, unfused, both heads, no `__metadata__`) and
`config.json` (`{"model": "yolov10s.yaml", "names": {...}, "task": "detect"}`; older revisions only `model`).

`hf:OWNER/NAME[@REVISION]` is resolved in the local cache only, the folder huggingface_hub itself would use, laid
out as `models--OWNER--NAME/{refs/main, snapshots/<commit>/…, blobs/…}`. Nothing here downloads, and nothing here
writes: the cache belongs to huggingface_hub, so outputs made from a cached snapshot default elsewhere
(`default_output`). Torch-free, so that `inspect` can name a missing snapshot from the light install.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo10port.errors import InputError

HF_SCHEME = "hf:"
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")  # the mixin's file; its fallback in older releases
CONFIG_FILE = "config.json"
_REPO_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*")
_REVISION = re.compile(r"[\w.-]+")


@dataclass(frozen=True)
class Snapshot:
    """One Hugging Face snapshot: where its weights file is and what its config.json says."""

    folder: Path
    weights: Path
    config: dict[str, Any] = field(default_factory=dict)
    repo_id: str | None = None  # OWNER/NAME when known (from hf: or the cache layout)
    revision: str | None = None  # the snapshot's commit, when it sits in a cache

    @property
    def name(self) -> str:
        """The repository's name (`yolov10n`), or the folder's when the snapshot is a plain folder."""
        return self.repo_id.rsplit("/", 1)[-1] if self.repo_id else self.folder.name

    @property
    def in_cache(self) -> bool:
        return self.revision is not None

    def describe(self) -> str:
        where = f"{self.repo_id}@{self.revision[:12]}" if self.repo_id and self.revision else str(self.folder)
        return f"Hugging Face snapshot {where}"

    def names(self) -> dict[int, str]:
        """Class names from config.json (`{"0": "person", …}` or a list); {} when it has none."""
        names = self.config.get("names")
        if isinstance(names, dict):
            try:
                return dict(sorted((int(k), str(v)) for k, v in names.items()))  # json.dumps sorted them as text
            except (TypeError, ValueError):
                return {}
        if isinstance(names, list):
            return dict(enumerate(map(str, names)))
        return {}


def is_hf_reference(path: str | os.PathLike) -> bool:
    return str(path).startswith(HF_SCHEME)


def hub_cache() -> Path:
    """The cache folder huggingface_hub uses, by its own precedence: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE,
    HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def resolve_reference(reference: str) -> Snapshot:
    """`hf:OWNER/NAME[@REVISION]` → the cached snapshot; InputError saying where it looked when there is none."""
    spec = reference[len(HF_SCHEME) :]
    repo_id, _, revision = spec.partition("@")
    if not _REPO_ID.fullmatch(repo_id) or (revision and not _REVISION.fullmatch(revision)):
        raise InputError(reference, "expected hf:OWNER/NAME or hf:OWNER/NAME@REVISION, e.g. hf:jameslahm/yolov10s")
    cache = hub_cache()
    repo_folder = cache / ("models--" + repo_id.replace("/", "--"))
    fetch_hint = f"yolo10port never downloads; fetch it once with `huggingface-cli download {repo_id}`"
    if not repo_folder.is_dir():
        raise InputError(
            reference,
            f"no cached copy: looked for {repo_folder} (the cache is HF_HUB_CACHE, else HF_HOME/hub, else "
            f"~/.cache/huggingface/hub); {fetch_hint}",
        )
    snapshots = repo_folder / "snapshots"
    available = sorted(p.name for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    commit = _commit_for(repo_folder, revision or "main", available)
    if commit is None and not revision and len(available) == 1:
        commit = available[0]  # no refs/main (a snapshot copied by hand): the only one there is
    if commit is None or commit not in available:
        wanted = f"revision {revision!r}" if revision else "refs/main"
        choices = ", ".join(a[:12] for a in available) or "none"
        raise InputError(
            reference,
            f"{repo_folder} has no snapshot for {wanted} (snapshots: {choices}; pick one with "
            f"hf:{repo_id}@REVISION); {fetch_hint}",
        )
    folder = snapshots / commit
    weights = _weights_file(folder)
    if weights is None:
        raise InputError(reference, f"snapshot {folder} holds no model.safetensors (a partial download?); {fetch_hint}")
    return Snapshot(folder, weights, _read_config(folder), repo_id, commit)


def _commit_for(repo_folder: Path, revision: str, available: list[str]) -> str | None:
    """A branch or tag (refs/REVISION), a commit, or an unambiguous commit prefix of 7+ characters."""
    ref = repo_folder / "refs" / revision
    if ref.is_file():
        from yolo10port.safe_io import read_text

        return read_text(ref, "ref file", limit=1024).strip() or None
    if revision in available:
        return revision
    matches = [commit for commit in available if len(revision) >= 7 and commit.startswith(revision)]
    return matches[0] if len(matches) == 1 else None


def _weights_file(folder: Path) -> Path | None:
    return next((folder / name for name in WEIGHTS_FILES if (folder / name).is_file()), None)


def _read_config(folder: Path) -> dict[str, Any]:
    from yolo10port.safe_io import read_text

    path = folder / CONFIG_FILE
    if not path.exists():
        return {}
    text = read_text(path, "config.json")  # at most 1 MiB, a regular file: a 1 GB config is never read whole
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise InputError(path, f"unreadable config.json beside the weights ({error})") from None
    return config if isinstance(config, dict) else {}


def _cache_coordinates(folder: Path) -> tuple[str | None, str | None]:
    """(OWNER/NAME, commit) when `folder` is `…/models--OWNER--NAME/snapshots/<commit>`, else (None, None)."""
    absolute = Path(os.path.abspath(folder))  # not resolve(): snapshot files are symlinks into blobs/
    repo = absolute.parent.parent.name
    if absolute.parent.name == "snapshots" and repo.startswith("models--"):
        return repo.removeprefix("models--").replace("--", "/"), absolute.name
    return None, None


def snapshot_folder(folder: Path) -> Snapshot:
    """A folder given as weights: a snapshot if it holds model.safetensors (or pytorch_model.bin)."""
    weights = _weights_file(folder)
    if weights is None:
        raise InputError(
            folder, "is a directory without model.safetensors: neither a weights file nor a Hugging Face snapshot"
        )
    return Snapshot(folder, weights, _read_config(folder), *_cache_coordinates(folder))


def snapshot_of_file(path: Path) -> Snapshot | None:
    """The snapshot a weights file belongs to: a file named as the mixin names it, in a cache or with config.json."""
    if path.name not in WEIGHTS_FILES:
        return None
    repo_id, revision = _cache_coordinates(path.parent)
    if revision is None and not (path.parent / CONFIG_FILE).is_file():
        return None
    return Snapshot(path.parent, path, _read_config(path.parent), repo_id, revision)


def locate(path: str | os.PathLike) -> tuple[Path, Snapshot | None]:
    """The weights file `path` names, and its snapshot when it is one: hf:…, a snapshot folder, or a plain file."""
    if is_hf_reference(path):
        snapshot = resolve_reference(str(path))
        return snapshot.weights, snapshot
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        snapshot = snapshot_folder(path)
        return snapshot.weights, snapshot
    return path, snapshot_of_file(path)


def default_output(source: str | os.PathLike, suffix: str) -> Path:
    """Where an output made from `source` goes when no -o is given: beside it, named after it
    (`yolov10s.pt` → `yolov10s<suffix>`).

    A snapshot is named after its repository and goes beside its folder (`yolov10n/` → `yolov10n<suffix>`), never
    inside it; one in the Hugging Face cache (or `hf:…`) goes to the current folder, since the cache belongs to
    huggingface_hub and a read-only command must not write there.
    """
    if is_hf_reference(source):
        repo_id = str(source)[len(HF_SCHEME) :].partition("@")[0]
        return Path(f"{repo_id.rsplit('/', 1)[-1]}{suffix}")
    path = Path(source)
    folder = path if path.is_dir() else path.parent if path.name in WEIGHTS_FILES else None
    if folder is not None:
        repo_id, revision = _cache_coordinates(folder)
        if revision is not None:
            return Path(f"{repo_id.rsplit('/', 1)[-1]}{suffix}")
        if path.is_dir() or (folder / CONFIG_FILE).is_file():
            absolute = Path(os.path.abspath(folder))  # `.` names the folder too
            return absolute.parent / f"{absolute.name}{suffix}"
    name = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{name}{suffix}")
