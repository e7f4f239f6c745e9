"""Read YOLOv10 weights, safely, from every form people have them in.

- ultralytics `.pt` checkpoints, as released (fp16 `model`) or as trained (`ema` preferred over `model`, as
  ultralytics does; optimizer state ignored), upstream or THU-MIG fork, fused or not, with loss objects and numpy
  metrics attached: their pickle goes through `RestrictedUnpickler`, so nothing the file names is imported or run;
- bare state dicts saved with `torch.save(model.state_dict())`, under any one wrapper prefix (`model.model.`,
  `module.`, …: see keys.py);
- Hugging Face snapshots (the folder, its `model.safetensors`, or `hf:OWNER/NAME` from the local cache: hf.py);
- yolo10port's own `.safetensors` exports.

What comes back is plain data: the state dict under ultralytics' key names and what the file says about itself.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT, WEIGHTS_FORMAT, safetensors_metadata, sha256_file
from yolo10port.safe_io import regular_file
from yolo10port.weights.bounds import (
    MAX_CHECKPOINT_BYTES,
    MAX_MODULE_DEPTH,
    MAX_MODULES,
    MAX_PICKLE_BYTES,
    check_names,
    check_state_dict,
)
from yolo10port.weights.hf import locate
from yolo10port.weights.keys import STEM, canonical_keys, check_yolov10_keys
from yolo10port.weights.lazy_torch import is_tensor
from yolo10port.weights.scales import SCALE_SIGNATURES, is_fused, nc_from_shapes, scale_from_shapes
from yolo10port.weights.unpickler import RestrictedUnpickler, StandIn, UnsafePickleError

if TYPE_CHECKING:
    import torch

# How the file held the weights (Weights.form).
CHECKPOINT = "ultralytics checkpoint"
TRAINING_CHECKPOINT = "ultralytics training checkpoint"
STATE_DICT = "state dict"
HF_SNAPSHOT = "Hugging Face snapshot"
EXPORT = "yolo10port export"


@dataclass
class Weights:
    """A YOLOv10 checkpoint as plain data."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    scale: str
    nc: int
    fused: bool
    storage_dtype: str
    names: dict[int, str] = field(default_factory=dict)
    stride: list[float] = field(default_factory=lambda: [8.0, 16.0, 32.0])
    saved_by: str = "unknown"
    saved_on: str | None = None
    model_class: str = "DetectionModel"
    source_sha256: str = ""
    arch: dict[str, Any] | None = None
    module_types: dict[str, str] = field(default_factory=dict)  # module path → class name, as pickled
    train_imgsz: int | None = None  # the image size it was trained at (train_args), when the file says
    train_epochs: int | None = None  # train_args' epochs: 0 = never trained (a fixture), None = not recorded
    form: str = CHECKPOINT  # how the file held the weights, e.g. "Hugging Face snapshot jameslahm/yolov10n@…"
    # The prefix the keys had before the layer index instead of ultralytics' 'model.' ('model.model.', 'module.model.',
    # '' for `0.conv.weight`), renamed on reading; None when they were ultralytics' own.
    key_prefix: str | None = None


def read_weights(path: str | os.PathLike, scale: str | None = None, nc: int | None = None) -> Weights:
    """Read any accepted form (module docstring); raise InputError (exit 2) naming the real problem otherwise.

    `scale` and `nc` are used only where the tensors cannot tell (the tensors of a complete YOLOv10 always can);
    to insist on a scale, give it to the model loader, which checks every shape against it.
    """
    file, snapshot = locate(path)
    size = regular_file(file, "weights file").stat().st_size
    if size == 0:
        raise InputError(file, "file is empty")
    with open(file, "rb") as handle:
        magic = handle.read(9)
    # safetensors: an 8-byte header length, then the JSON header. Sniffed, not only named: the cache's blobs/ hold
    # the same file under its sha256.
    header_length = int.from_bytes(magic[:8], "little")
    is_safetensors = magic[8:9] == b"{" and header_length < file.stat().st_size
    if magic.startswith(b"PK"):
        weights = _read_torch_zip(file, scale, nc)
    elif is_safetensors or file.suffix == ".safetensors":
        weights = _read_safetensors(file, scale, nc)
    elif magic[:1] == b"\x80":
        raise InputError(file, "legacy (non-zip) torch file; re-save it with torch>=1.6 (zip format)")
    else:
        raise InputError(file, "not a torch zip checkpoint (.pt), a safetensors file, nor a Hugging Face snapshot")
    if snapshot is not None:
        weights.form = snapshot.describe()
        weights.names = weights.names or snapshot.names()
    check_names(file, weights.names)
    return weights


def _float_dtypes(state_dict: dict[str, torch.Tensor]) -> str:
    return ",".join(sorted({str(t.dtype).removeprefix("torch.") for t in state_dict.values() if t.is_floating_point()}))


def _scale_of(path: Path, state_dict: dict[str, torch.Tensor], hint: str | None) -> str:
    from_shapes = scale_from_shapes(state_dict)
    if from_shapes is not None:
        return from_shapes
    if hint is not None:
        return hint
    stem = state_dict["model.0.conv.weight"]
    if stem.ndim != 4:
        raise InputError(path, f"model.0.conv.weight has shape {tuple(stem.shape)}, not (channels, 3, 3, 3)")
    blocks = len({key.split(".")[3] for key in state_dict if key.startswith("model.2.m.")})
    known = ", ".join(f"{s} {c}/{b}" for s, (c, b) in SCALE_SIGNATURES.items())
    raise InputError(
        path,
        f"tensor shapes match none of the YOLOv10 scales: the stem has {stem.shape[0]} channels and model.2 "
        f"{blocks} blocks (stem channels/blocks: {known}); a custom width or depth is not one of the six",
    )


def _from_state_dict(
    path: Path, raw: dict[str, Any], form: str, scale: str | None, nc: int | None, **known: Any
) -> Weights:
    """Weights from a bare state dict of any origin: wrapper prefix removed, YOLOv10 layout checked."""
    state_dict, prefix = canonical_keys(path, raw)
    check_yolov10_keys(path, list(state_dict))
    scale = _scale_of(path, state_dict, scale)
    nc = nc_from_shapes(state_dict) or nc or 80
    check_state_dict(path, {key: tuple(t.shape) for key, t in state_dict.items()}, scale, nc)  # before copying
    state_dict = {key: tensor.contiguous() for key, tensor in state_dict.items()}
    return Weights(
        path=path,
        state_dict=state_dict,
        scale=scale,
        nc=nc,
        fused=is_fused(state_dict),
        storage_dtype=_float_dtypes(state_dict) or "none",
        form=form,
        key_prefix=prefix,
        **{"model_class": "unknown", **known, "source_sha256": known.get("source_sha256") or sha256_file(path)},
    )


# --- .pt -------------------------------------------------------------------------------------------------------


def _unpickle(path: Path) -> Any:
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise InputError(path, f"truncated or corrupt zip archive ({error})") from None
    pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
    if not pickles:
        raise InputError(path, "zip archive has no data.pkl: not a torch checkpoint")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = f"{prefix}byteorder"
    if byteorder in names and _read_member(path, archive, byteorder, 16).strip() not in (b"little", b""):
        raise InputError(path, "big-endian checkpoints are not supported")
    budget = [MAX_CHECKPOINT_BYTES]

    def load_storage(key: str, nbytes: int) -> bytearray:
        # Exactly the bytes the pickle declares, and all storages within the checkpoint bound: a member that
        # inflates to more (a zip bomb) is refused from its header, before anything is decompressed.
        if nbytes > budget[0]:
            raise InputError(
                path, f"storages add up to more than {MAX_CHECKPOINT_BYTES >> 30} GiB, the bound for a checkpoint"
            )
        budget[0] -= nbytes
        return _read_member(path, archive, f"{prefix}data/{key}", nbytes, exact=True)

    try:
        data = _read_member(path, archive, pickles[0], MAX_PICKLE_BYTES)
        return RestrictedUnpickler(io.BytesIO(data), load_storage).load()
    except UnsafePickleError as error:
        raise InputError(path, f"refused unsafe pickle: {error}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        RuntimeError,
        OverflowError,
        RecursionError,
    ) as error:
        raise InputError(path, f"unreadable checkpoint ({type(error).__name__}: {str(error)[:200]})") from None


def _read_member(path: Path, archive: zipfile.ZipFile, name: str, limit: int, exact: bool = False) -> bytearray:
    """A zip member's bytes, at most `limit` (with `exact`, exactly `limit`), judged from its header before
    decompressing, and never more read than that (a header can lie)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InputError(path, f"zip archive has no member {name}") from None
    if info.file_size > limit or (exact and info.file_size != limit):
        said = f"the pickle declares {limit:,}" if exact else f"the bound is {limit:,}"
        raise InputError(path, f"zip member {name} holds {info.file_size:,} bytes; {said}")
    buffer = bytearray(info.file_size)
    with archive.open(info) as member:
        read = member.readinto(buffer)
    if read != info.file_size:
        raise InputError(path, f"zip member {name} is truncated ({read:,} of {info.file_size:,} bytes)")
    return buffer


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, dict) and bool(value) and all(isinstance(k, str) and is_tensor(v) for k, v in value.items())
    )


def _read_torch_zip(path: Path, scale: str | None, nc: int | None) -> Weights:
    payload = _unpickle(path)
    if _is_state_dict(payload):  # torch.save(model.state_dict())
        return _from_state_dict(path, payload, STATE_DICT, scale, nc)
    if not isinstance(payload, dict):
        raise InputError(path, f"checkpoint top level is {type(payload).__name__}, not a dict")
    entry = "ema" if payload.get("ema") is not None else "model"
    model = payload.get(entry)
    if model is None and _is_state_dict(payload.get("state_dict")):
        entry, model = "state_dict", payload["state_dict"]
    if model is None:
        raise InputError(path, "checkpoint has neither 'ema' nor 'model'")
    metadata = _checkpoint_metadata(payload)
    if _is_state_dict(model):  # {"model": model.state_dict(), …}
        return _from_state_dict(path, model, f"{STATE_DICT} under '{entry}'", scale, nc, **metadata)
    if not isinstance(model, StandIn):
        raise InputError(path, f"checkpoint '{entry}' is {type(model).__name__}, not a pickled ultralytics model")

    tree = _walk_modules(path, model)
    views = tree.state_dict
    _check_is_yolov10(path, model, views)
    attrs = model.state
    arch = attrs.get("yaml") if isinstance(attrs.get("yaml"), dict) else None
    scale = _scale_of(path, views, scale)
    arch_nc = (arch or {}).get("nc")
    nc = nc_from_shapes(views) or (arch_nc if type(arch_nc) is int else nc or 80)
    check_state_dict(path, {key: tuple(t.shape) for key, t in views.items()}, scale, nc)  # before copying
    state_dict = {key: t.contiguous().clone() for key, t in views.items()}
    stride = attrs.get("stride")
    training = payload.get("optimizer") is not None
    return Weights(
        path=path,
        state_dict=state_dict,
        scale=scale,
        nc=nc,
        fused=is_fused(state_dict),
        storage_dtype=_float_dtypes(state_dict) or "none",
        names=_names(path, attrs.get("names")),
        stride=_stride(stride),
        model_class=model.class_path,
        source_sha256=sha256_file(path),
        arch=arch,
        module_types=tree.module_types,
        form=f"{TRAINING_CHECKPOINT} ('{entry}' read, optimizer state ignored)" if training else CHECKPOINT,
        **metadata,
    )


def _checkpoint_metadata(payload: dict) -> dict[str, Any]:
    version = payload.get("version")
    date = payload.get("date")
    return {
        "saved_by": f"ultralytics {version}" if isinstance(version, str) and version else "unknown",
        "saved_on": date if isinstance(date, str) else None,
        "train_imgsz": _train_imgsz(payload.get("train_args")),
        "train_epochs": _train_epochs(payload.get("train_args")),
    }


@dataclass
class ModuleTree:
    """What the walk of a pickled module tree found: the state dict torch would produce (views on the storages,
    nothing copied yet) and (path → class name) for every module, depth first."""

    state_dict: dict[str, torch.Tensor]
    module_types: dict[str, str]


def _attr_dict(path: Path, module: StandIn, where: str, attribute: str) -> dict:
    value = module.state.get(attribute)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InputError(path, f"module {where or '(top)'}: {attribute} is {type(value).__name__}, not a dict by name")
    return value


def _walk_modules(path: Path, root: StandIn) -> ModuleTree:
    """The state dict torch would produce (own parameters, persistent buffers, then children) and the module tree,
    walked without recursion and bounded: at most MAX_MODULE_DEPTH deep and MAX_MODULES module paths. A module
    may be shared (ultralytics' Conv shares one SiLU), so paths are counted, not objects: 40 levels of shared
    children would be 2^40 paths, and the walk stops at the bound instead.

    Only `_parameters`, `_buffers` and `_modules` are walked, so a loss object a trainer attached to the model
    (`criterion`, a plain attribute) contributes nothing, as it contributes nothing to torch's state_dict().
    """
    state: dict[str, torch.Tensor] = OrderedDict()
    types: dict[str, str] = {}
    paths = 0
    stack: list[tuple[StandIn, str, int]] = [(root, "", 0)]
    while stack:
        module, where, depth = stack.pop()
        prefix = f"{where}." if where else ""
        for name, tensor in _attr_dict(path, module, where, "_parameters").items():
            if is_tensor(tensor):
                state[prefix + name] = tensor
        non_persistent = module.state.get("_non_persistent_buffers_set") or set()
        for name, tensor in _attr_dict(path, module, where, "_buffers").items():
            persistent = not (isinstance(non_persistent, (set, frozenset)) and name in non_persistent)
            if is_tensor(tensor) and persistent:
                state[prefix + name] = tensor
        children = [(n, c) for n, c in _attr_dict(path, module, where, "_modules").items() if isinstance(c, StandIn)]
        if children and depth + 1 > MAX_MODULE_DEPTH:
            raise InputError(path, f"module tree deeper than {MAX_MODULE_DEPTH} levels (at {where}); YOLOv10's is 8")
        for name, child in reversed(children):  # reversed onto the stack: visited in order, depth first
            paths += 1
            if paths > MAX_MODULES:
                raise InputError(path, f"more than {MAX_MODULES} module paths (shared modules counted per path)")
            stack.append((child, prefix + name, depth + 1))
        if where:
            types[where] = module.class_name
    return ModuleTree(state, types)


def _layers(model: StandIn) -> list[StandIn]:
    modules = model.state.get("_modules")
    sequential = modules.get("model") if isinstance(modules, dict) else None
    if not isinstance(sequential, StandIn):
        return []
    layers = sequential.state.get("_modules")
    return [m for m in layers.values() if isinstance(m, StandIn)] if isinstance(layers, dict) else []


def _check_is_yolov10(path: Path, model: StandIn, state_dict: dict[str, torch.Tensor]) -> None:
    if not model.class_name.endswith("DetectionModel"):
        raise InputError(path, f"not a YOLOv10 detection model: found {model.class_name}")
    layers = _layers(model)
    head = layers[-1].class_name if layers else "nothing"
    yaml_file = (
        (model.state.get("yaml") or {}).get("yaml_file", "") if isinstance(model.state.get("yaml"), dict) else ""
    )
    if head != "v10Detect" or len(layers) != 24:
        found = f"{len(layers)} layers ending in {head}" + (f", built from {yaml_file}" if yaml_file else "")
        raise InputError(path, f"not a YOLOv10 model: found {found} (expected 24 layers ending in v10Detect)")
    if "model.23.one2one_cv2.0.2.weight" not in state_dict:
        raise InputError(path, "YOLOv10 head without its one-to-one branch (one2one_cv2); cannot run NMS-free")


def _train_epochs(train_args: Any) -> int | None:
    epochs = train_args.get("epochs") if isinstance(train_args, dict) else None
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 0 else None


def _train_imgsz(train_args: Any) -> int | None:
    imgsz = train_args.get("imgsz") if isinstance(train_args, dict) else None
    if isinstance(imgsz, (list, tuple)) and imgsz:
        imgsz = max(imgsz)
    return int(imgsz) if isinstance(imgsz, int) and imgsz > 0 else None


def _names(path: Path, names: Any) -> dict[int, str]:
    """Class names by index, from a dict (int or digit-string keys) or a list; InputError naming the file else."""
    if isinstance(names, dict):
        bad = next((k for k in names if not (type(k) is int or (isinstance(k, str) and k.isdigit()))), None)
        if bad is not None:
            raise InputError(path, f"class names keyed by {_short_repr(bad)}, not by class index")
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, (list, tuple)):
        return dict(enumerate(map(str, names)))
    return {}


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stride(stride: Any) -> list[float]:
    if is_tensor(stride) and stride.ndim == 1 and 1 <= stride.numel() <= 8:
        return [float(s) for s in stride.tolist()]
    return [8.0, 16.0, 32.0]


# --- .safetensors ----------------------------------------------------------------------------------------------


def _read_safetensors(path: Path, scale: str | None, nc: int | None) -> Weights:
    meta = safetensors_metadata(path)
    kind = meta.get("format")
    if kind == DUMP_FORMAT:
        raise InputError(path, "is a yolo10port dump, not a weights file (give the .pt or the exported weights)")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:  # safetensors cannot amplify: its size bounds what it costs
        raise InputError(path, f"larger than {MAX_CHECKPOINT_BYTES >> 30} GiB, the bound for a weights file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InputError(path, f"unreadable tensors ({str(error).splitlines()[0]})") from None
    if kind != WEIGHTS_FORMAT:
        return _foreign_safetensors(path, raw, kind, scale, nc)
    names = _json_entry(path, meta, "names", "{}", dict)
    if not all(isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in names.items()):
        raise InputError(path, "metadata 'names' is not a map of class index → name")
    stride = _json_entry(path, meta, "stride", "[8, 16, 32]", list)
    if not (1 <= len(stride) <= 8 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in stride)):
        raise InputError(path, "metadata 'stride' is not a list of numbers")
    module_types = _json_entry(path, meta, "module_types", "{}", dict)
    if not all(isinstance(v, str) for v in module_types.values()):
        raise InputError(path, "metadata 'module_types' is not a map of module path → class name")
    nc_text, imgsz_text = meta.get("nc", ""), meta.get("train_imgsz", "")
    epochs_text = str(meta.get("train_epochs", ""))
    return _from_state_dict(
        path,
        raw,
        EXPORT,
        scale,
        int(nc_text) if nc_text.isdigit() and len(nc_text) < 8 else nc,
        names={int(k): v for k, v in names.items()},
        stride=[float(v) for v in stride],
        saved_by=meta.get("saved_by", "unknown"),
        saved_on=meta.get("saved_on") or None,
        model_class=meta.get("model_class", "DetectionModel"),
        source_sha256=meta.get("source_sha256"),
        module_types=module_types,
        train_imgsz=int(imgsz_text) if imgsz_text.isdigit() and len(imgsz_text) < 6 else None,
        train_epochs=int(epochs_text) if epochs_text.isdigit() and len(epochs_text) < 9 else None,
    )


def _json_entry(path: Path, meta: dict[str, str], entry: str, default: str, kind: type) -> Any:
    """A JSON-valued metadata entry of an export, of the expected kind; InputError naming the file otherwise."""
    try:
        value = json.loads(meta.get(entry, default))
    except (json.JSONDecodeError, RecursionError):
        raise InputError(path, f"metadata {entry!r} is not JSON") from None
    if not isinstance(value, kind):
        raise InputError(path, f"metadata {entry!r} is a JSON {type(value).__name__}, not a {kind.__name__}")
    return value


def _foreign_safetensors(path: Path, raw: dict, kind: str | None, scale: str | None, nc: int | None) -> Weights:
    """A state dict saved as safetensors by someone else: the hub mixin (no metadata), safetensors' save_file,
    transformers-style tools (format 'pt'). Its keys decide whether it is a YOLOv10."""
    if not raw:
        raise InputError(path, "safetensors file holds no tensors")
    if not any(key.endswith(STEM) for key in raw):  # not even a YOLO: say what the file is not
        said = f"metadata format is {kind!r}" if kind else "no yolo10port 'format' metadata entry"
        raise InputError(
            path,
            f"{said}, and no key is a YOLOv10 tensor (e.g. {next(iter(raw))!r}; expected 'model.0.conv.weight', "
            f"possibly under a wrapper prefix); weights exports have format={WEIGHTS_FORMAT}",
        )
    return _from_state_dict(path, raw, STATE_DICT, scale, nc)
