"""`yolo10port export`: weights to safetensors under ultralytics' key names, plus the two files porters align with.

Beside OUT.safetensors: OUT.manifest.json (key → shape, dtype, sha256 of the tensor's bytes) and OUT.modules.txt
(the module tree). All three are checked before any work and renamed into place together.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yolo10port import __version__
from yolo10port.atomic import OutputTransaction, write_text_atomic
from yolo10port.dumps.writer import StreamingSafetensorsWriter
from yolo10port.errors import InputError
from yolo10port.formats import WEIGHTS_FORMAT, sidecar_paths
from yolo10port.outputs import guard
from yolo10port.weights.hf import default_output
from yolo10port.weights.reader import Weights, read_weights

if TYPE_CHECKING:
    import torch

EXPORT_DTYPES = {"keep": None, "float32": "float32", "float16": "float16"}  # torch dtype names
# safetensors refuses to read a header longer than this: an export must never write a file its readers refuse.
SAFETENSORS_HEADER_LIMIT = 100_000_000


@dataclass
class ExportResult:
    weights: Weights
    out: Path
    manifest: Path
    modules: Path
    tensors: int
    nonfinite: list[str]
    written_dtype: str  # the floating-point dtype(s) of the file written, which --dtype may have changed


def tensor_sha256(tensor: torch.Tensor) -> str:
    import torch

    return hashlib.sha256(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


def export_weights(model: Weights | str | Path, out: str | Path | None = None, dtype: str = "keep") -> ExportResult:
    """Write `model` (a weights file, or weights already read) as safetensors with its manifest and module tree."""
    if dtype not in EXPORT_DTYPES:
        raise InputError("--dtype", f"{dtype!r} is not one of {', '.join(EXPORT_DTYPES)}")
    model_path = model.path if isinstance(model, Weights) else Path(model)
    out = Path(out) if out else default_output(model_path, ".safetensors")
    manifest_path, modules_path = sidecar_paths(out)
    # All three outputs are checked before the weights are read, and renamed into place together at the end.
    outputs = OutputTransaction(
        guard({"-o": out, "manifest (beside -o)": manifest_path, "module tree (beside -o)": modules_path}, [model_path])
    )
    weights = model if isinstance(model, Weights) else read_weights(model_path)
    import torch  # after the read: a file refused before its first tensor costs no torch import

    target = getattr(torch, EXPORT_DTYPES[dtype]) if EXPORT_DTYPES[dtype] else None
    tensors = {
        k: (v.to(target) if target is not None and v.is_floating_point() else v).contiguous()
        for k, v in weights.state_dict.items()
    }
    nonfinite = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    metadata = {
        "format": WEIGHTS_FORMAT,
        "scale": weights.scale,
        "nc": str(weights.nc),
        "names": json.dumps({str(k): v for k, v in weights.names.items()}),
        "stride": json.dumps(weights.stride),
        "fused": str(weights.fused).lower(),
        "source": model_path.name,
        "source_sha256": weights.source_sha256,
        "saved_by": weights.saved_by,
        "saved_on": weights.saved_on or "",
        "model_class": weights.model_class,
        "producer": f"yolo10port {__version__}",
        "module_types": json.dumps(weights.module_types),
        "nonfinite_tensors": json.dumps(nonfinite),
        "train_imgsz": str(weights.train_imgsz or ""),
        "train_epochs": "" if weights.train_epochs is None else str(weights.train_epochs),
    }
    header = len(json.dumps(metadata)) + sum(len(json.dumps(k)) + 96 for k in tensors)  # 96: dtype, shape, offsets
    if header > SAFETENSORS_HEADER_LIMIT:
        raise InputError(
            model_path, f"its export would have a {header:,}-byte header, more than the 100 MB safetensors reads"
        )
    manifest = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch."), "sha256": tensor_sha256(v)}
        for k, v in tensors.items()
    }
    # Our own writer, not safetensors.save_file: that one serialises the metadata map in hash order, so two
    # exports of one checkpoint would differ in bytes. Ours keeps torch's key order and the metadata order.
    with outputs:
        writer = StreamingSafetensorsWriter(out)
        try:
            for key, tensor in tensors.items():
                writer.add(key, tensor)
            writer.close(metadata)
        except BaseException:
            writer.abort()
            raise
        write_text_atomic(manifest_path, json.dumps(manifest, indent=1) + "\n")
        write_text_atomic(modules_path, module_tree_text(weights))
    written = sorted({str(v.dtype).removeprefix("torch.") for v in tensors.values() if v.is_floating_point()})
    return ExportResult(weights, out, manifest_path, modules_path, len(tensors), nonfinite, ",".join(written))


def module_tree_text(weights: Weights) -> str:
    lines = [
        f"# module tree of {weights.path.name} (YOLOv10-{weights.scale}, nc={weights.nc}, "
        f"{'fused' if weights.fused else 'unfused'}): path, class, parameters it holds directly"
    ]
    direct: dict[str, list[str]] = {}
    for key, tensor in weights.state_dict.items():
        module, _, name = key.rpartition(".")
        direct.setdefault(module, []).append(f"{name}{list(tensor.shape)}")
    for path, class_name in weights.module_types.items():
        depth = path.count(".")
        params = " ".join(direct.get(path, []))
        lines.append(f"{'  ' * depth}{path}  {class_name}" + (f"  {params}" if params else ""))
    return "\n".join(lines) + "\n"
