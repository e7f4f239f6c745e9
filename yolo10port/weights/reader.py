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
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT, WEIGHTS_FORMAT, safetensors_metadata, sha256_file
from yolo10port.weights.hf import locate
from yolo10port.weights.keys import STEM, canonical_keys, check_yolov10_keys
from yolo10port.weights.scales import SCALE_SIGNATURES, is_fused, nc_from_shapes, scale_from_shapes
from yolo10port.weights.unpickler import RestrictedUnpickler, StandIn, UnsafePickleError

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
    if file.stat().st_size == 0:
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
    state_dict = {key: tensor.contiguous() for key, tensor in state_dict.items()}
    return Weights(
        path=path,
        state_dict=state_dict,
        scale=_scale_of(path, state_dict, scale),
        nc=nc_from_shapes(state_dict) or nc or 80,
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
    if byteorder in names and archive.read(byteorder).strip() not in (b"little", b""):
        raise InputError(path, "big-endian checkpoints are not supported")

    def load_storage(key: str) -> bytes:
        return archive.read(f"{prefix}data/{key}")

    try:
        return RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()
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
    ) as error:
        raise InputError(path, f"unreadable checkpoint ({type(error).__name__}: {error})") from None


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
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

    state_dict = _module_state_dict(model)
    _check_is_yolov10(path, model, state_dict)
    attrs = model.state
    arch = attrs.get("yaml") if isinstance(attrs.get("yaml"), dict) else None
    stride = attrs.get("stride")
    training = payload.get("optimizer") is not None
    return Weights(
        path=path,
        state_dict=state_dict,
        scale=_scale_of(path, state_dict, scale),
        nc=nc_from_shapes(state_dict) or int((arch or {}).get("nc", nc or 80)),
        fused=is_fused(state_dict),
        storage_dtype=_float_dtypes(state_dict) or "none",
        names=_names(attrs.get("names")),
        stride=[float(s) for s in stride.tolist()] if isinstance(stride, torch.Tensor) else [8.0, 16.0, 32.0],
        model_class=model.class_path,
        source_sha256=sha256_file(path),
        arch=arch,
        module_types=dict(_module_tree(model)),
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


def _module_tree(module: StandIn, prefix: str = ""):
    """(path, class name) for every pickled module, depth first: the tree a porter aligns names against."""
    for name, child in (module.state.get("_modules") or {}).items():
        if isinstance(child, StandIn):
            path = f"{prefix}{name}"
            yield path, child.class_name
            yield from _module_tree(child, f"{path}.")


def _module_state_dict(module: StandIn, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict torch would produce: own parameters, persistent buffers, then children, recursively.

    Only `_parameters`, `_buffers` and `_modules` are walked, so a loss object a trainer attached to the model
    (`criterion`, a plain attribute) contributes nothing, as it contributes nothing to torch's state_dict().
    """
    attrs = module.state
    result: dict[str, torch.Tensor] = OrderedDict()
    for name, tensor in (attrs.get("_parameters") or {}).items():
        if isinstance(tensor, torch.Tensor):
            result[prefix + name] = tensor.contiguous().clone()
    non_persistent = attrs.get("_non_persistent_buffers_set") or set()
    for name, tensor in (attrs.get("_buffers") or {}).items():
        if isinstance(tensor, torch.Tensor) and name not in non_persistent:
            result[prefix + name] = tensor.contiguous().clone()
    for name, child in (attrs.get("_modules") or {}).items():
        if isinstance(child, StandIn):
            result.update(_module_state_dict(child, f"{prefix}{name}."))
    return result


def _layers(model: StandIn) -> list[StandIn]:
    sequential = (model.state.get("_modules") or {}).get("model")
    if not isinstance(sequential, StandIn):
        return []
    return [m for m in (sequential.state.get("_modules") or {}).values() if isinstance(m, StandIn)]


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


def _names(names: Any) -> dict[int, str]:
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, (list, tuple)):
        return dict(enumerate(map(str, names)))
    return {}


# --- .safetensors ----------------------------------------------------------------------------------------------


def _read_safetensors(path: Path, scale: str | None, nc: int | None) -> Weights:
    meta = safetensors_metadata(path)
    kind = meta.get("format")
    if kind == DUMP_FORMAT:
        raise InputError(path, "is a yolo10port dump, not a weights file (give the .pt or the exported weights)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InputError(path, f"unreadable tensors ({str(error).splitlines()[0]})") from None
    if kind != WEIGHTS_FORMAT:
        return _foreign_safetensors(path, raw, kind, scale, nc)
    return _from_state_dict(
        path,
        raw,
        EXPORT,
        scale,
        int(meta["nc"]) if meta.get("nc", "").isdigit() else nc,
        names={int(k): v for k, v in json.loads(meta.get("names", "{}")).items()},
        stride=json.loads(meta.get("stride", "[8, 16, 32]")),
        saved_by=meta.get("saved_by", "unknown"),
        saved_on=meta.get("saved_on") or None,
        model_class=meta.get("model_class", "DetectionModel"),
        source_sha256=meta.get("source_sha256"),
        module_types=json.loads(meta.get("module_types", "{}")),
        train_imgsz=int(meta["train_imgsz"]) if meta.get("train_imgsz", "").isdigit() else None,
        train_epochs=int(meta["train_epochs"]) if meta.get("train_epochs", "").isdigit() else None,
    )


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
