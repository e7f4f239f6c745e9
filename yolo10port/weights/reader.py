"""Read YOLOv10 weights from an ultralytics .pt checkpoint or a yolo10port .safetensors export, safely.

`.pt` files are torch zip archives; their pickle goes through `RestrictedUnpickler`, so nothing the file names is
imported or run. What comes back is plain data: the state dict under ultralytics' key names and the checkpoint's
metadata.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT, WEIGHTS_FORMAT, safetensors_metadata
from yolo10port.weights.scales import is_fused, nc_from_shapes, scale_from_shapes
from yolo10port.weights.unpickler import RestrictedUnpickler, StandIn, UnsafePickleError


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_weights(path: str | Path) -> Weights:
    """Read a .pt or .safetensors file; raise InputError (exit 2) with the reason when it is not usable."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a weights file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK"):
        return _read_torch_zip(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    if magic[:1] == b"\x80":
        raise InputError(path, "legacy (non-zip) torch file; re-save it with torch>=1.6 (zip format)")
    raise InputError(path, "not a torch zip checkpoint (.pt) nor a yolo10port .safetensors export")


# --- .pt -------------------------------------------------------------------------------------------------------


def _read_torch_zip(path: Path) -> Weights:
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
        payload = RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()
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

    if not isinstance(payload, dict):
        raise InputError(path, f"checkpoint top level is {type(payload).__name__}, not a dict")
    model = payload.get("ema") if payload.get("ema") is not None else payload.get("model")
    if model is None:
        raise InputError(path, "checkpoint has neither 'ema' nor 'model'")
    if not isinstance(model, StandIn):
        raise InputError(path, f"checkpoint 'model' is {type(model).__name__}, not a pickled ultralytics model")

    state_dict = _module_state_dict(model)
    _check_is_yolov10(path, model, state_dict)
    attrs = model.state
    arch = attrs.get("yaml") if isinstance(attrs.get("yaml"), dict) else None
    scale = _scale_of(path, state_dict)
    stride = attrs.get("stride")
    float_dtypes = {str(t.dtype).removeprefix("torch.") for t in state_dict.values() if t.is_floating_point()}
    version = payload.get("version")
    return Weights(
        path=path,
        state_dict=state_dict,
        scale=scale,
        nc=nc_from_shapes(state_dict) or int((arch or {}).get("nc", 80)),
        fused=is_fused(state_dict),
        storage_dtype=",".join(sorted(float_dtypes)) or "none",
        names=_names(attrs.get("names")),
        stride=[float(s) for s in stride.tolist()] if isinstance(stride, torch.Tensor) else [8.0, 16.0, 32.0],
        saved_by=f"ultralytics {version}" if version else "unknown",
        saved_on=payload.get("date"),
        train_imgsz=_train_imgsz(payload.get("train_args")),
        model_class=model.class_path,
        source_sha256=sha256_file(path),
        arch=arch,
        module_types=dict(_module_tree(model)),
    )


def _module_tree(module: StandIn, prefix: str = ""):
    """(path, class name) for every pickled module, depth first: the tree a porter aligns names against."""
    for name, child in (module.state.get("_modules") or {}).items():
        if isinstance(child, StandIn):
            path = f"{prefix}{name}"
            yield path, child.class_name
            yield from _module_tree(child, f"{path}.")


def _module_state_dict(module: StandIn, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict torch would produce: own parameters, persistent buffers, then children, recursively."""
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


def _scale_of(path: Path, state_dict: dict[str, torch.Tensor]) -> str:
    from_shapes = scale_from_shapes(state_dict)
    if from_shapes is None:
        raise InputError(path, "tensor shapes match none of the YOLOv10 scales n/s/m/b/l/x")
    return from_shapes


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


def _read_safetensors(path: Path) -> Weights:
    meta = safetensors_metadata(path)
    kind = meta.get("format")
    if kind == DUMP_FORMAT:
        raise InputError(path, "is a yolo10port dump, not a weights file (give the .pt or the exported weights)")
    if kind is None:
        raise InputError(
            path, f"safetensors file without a 'format' metadata entry; weights exports have format={WEIGHTS_FORMAT}"
        )
    if kind != WEIGHTS_FORMAT:
        raise InputError(path, f"safetensors metadata format is {kind!r}, expected {WEIGHTS_FORMAT!r}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            state_dict = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InputError(path, f"unreadable tensors ({str(error).splitlines()[0]})") from None
    scale = scale_from_shapes(state_dict)
    if scale is None:
        raise InputError(path, "tensor shapes match none of the YOLOv10 scales n/s/m/b/l/x")
    float_dtypes = {str(t.dtype).removeprefix("torch.") for t in state_dict.values() if t.is_floating_point()}
    return Weights(
        path=path,
        state_dict=state_dict,
        scale=scale,
        nc=nc_from_shapes(state_dict) or int(meta.get("nc", 80)),
        fused=is_fused(state_dict),
        storage_dtype=",".join(sorted(float_dtypes)),
        names={int(k): v for k, v in json.loads(meta.get("names", "{}")).items()},
        stride=json.loads(meta.get("stride", "[8, 16, 32]")),
        saved_by=meta.get("saved_by", "unknown"),
        saved_on=meta.get("saved_on"),
        model_class=meta.get("model_class", "DetectionModel"),
        source_sha256=meta.get("source_sha256", sha256_file(path)),
        arch=None,
        module_types=json.loads(meta.get("module_types", "{}")),
        train_imgsz=int(meta["train_imgsz"]) if meta.get("train_imgsz", "").isdigit() else None,
    )
