"""`yolo10port inspect`: what a weights file or a dump holds.

Weights: what the file stores (its tensors, and its parameters as torch counts them: both heads, unfused as
stored), and what the model costs at inference as the paper counts it (weights/cost.py), per layer and in total,
with each layer's output shape at the given size. Dumps: their metadata, keys and shapes, read with numpy and
safetensors only, so that a port's CI can inspect a reference from the light install (no torch, no ultralytics).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo10port.errors import InputError
from yolo10port.formats import DUMP_FORMAT

BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # BatchNorm state: tensors, not parameters
# Dump metadata entries that hold JSON (shown parsed, not as one long string).
JSON_METADATA = ("order", "module_types", "noise_floor", "noise_floor_mean", "onnx_nodes", "no_counterpart")
# The entries a reader looks for first, in this order; the others follow alphabetically.
DUMP_HEADLINE = ("format", "producer", "tool", "input", "dtype", "head", "scale", "nc", "fused", "depth")


@dataclass
class LayerRow:
    index: int
    type: str
    parameters: int
    flops: int
    output_shape: list[int]


@dataclass
class WeightsInspection:
    weights: Any  # weights.reader.Weights (kept untyped here: importing it costs torch)
    imgsz: int
    tensors: int  # tensors in the state dict
    params_total: int  # parameters as torch counts them for the stored network
    params_inference: int  # the paper's figure
    flops: int  # the paper's figure, at imgsz × imgsz
    layers: list[LayerRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from yolo10port.weights.cost import COUNTING

        w = self.weights
        return {
            "kind": "weights",
            "file": str(w.path),
            "form": w.form,
            "scale": w.scale,
            "nc": w.nc,
            "names": {str(k): v for k, v in w.names.items()} or "unknown",
            "params_inference": self.params_inference,
            "gflops": round(self.flops / 1e9, 4),
            "imgsz": self.imgsz,
            "params_total": self.params_total,
            "tensors": self.tensors,
            "storage_dtype": w.storage_dtype,
            "fused": w.fused,
            "saved_by": w.saved_by,
            "saved_on": w.saved_on,
            "model_class": w.model_class,
            "key_prefix_renamed": w.key_prefix,  # null: the keys were ultralytics' own (model.0.…)
            "source_sha256": w.source_sha256,
            "counting": COUNTING,
            "layers": [
                {
                    "index": row.index,
                    "module": row.type,
                    "params": row.parameters,
                    "gflops": round(row.flops / 1e9, 4),
                    "output_shape": row.output_shape,
                }
                for row in self.layers
            ],
        }


@dataclass
class DumpKey:
    key: str
    shape: list[int]
    dtype: str
    floors: dict[str, float]  # the noise floor of each row this key is compared as (model.23: boxes, scores)


@dataclass
class DumpInspection:
    path: Path
    metadata: dict[str, Any]  # JSON-valued entries parsed
    keys: list[DumpKey]

    @property
    def floors(self) -> dict[str, float]:
        floors = self.metadata.get("noise_floor")
        return floors if isinstance(floors, dict) else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "dump",
            "file": str(self.path),
            "metadata": self.metadata,
            "tensors": len(self.keys),
            "keys": [{"key": k.key, "shape": k.shape, "dtype": k.dtype, "noise_floor": k.floors} for k in self.keys],
            "noise_floor": floor_summary(self.floors),
        }


def floor_summary(floors: dict[str, float]) -> dict[str, Any] | None:
    """How far float32 arithmetic alone moved the reference (per row: max|float32 run − float64 run|)."""
    if not floors:
        return None
    ordered = sorted(floors.items(), key=lambda item: item[1])
    worst_key, worst = ordered[-1]
    return {"rows": len(ordered), "median": ordered[len(ordered) // 2][1], "max": worst, "max_at": worst_key}


def inspect_file(
    path: str | os.PathLike, imgsz: int = 640, scale: str | None = None, nc: int | None = None
) -> WeightsInspection | DumpInspection:
    """A dump (read without torch) or any accepted weights form (read safely)."""
    if _is_dump(path):
        return inspect_dump(Path(path))
    return inspect_weights(path, imgsz, scale, nc)


def _is_dump(path: str | os.PathLike) -> bool:
    from yolo10port.formats import safetensors_metadata

    candidate = Path(path)
    if str(path).startswith("hf:") or not candidate.is_file() or candidate.stat().st_size < 8:
        return False
    with open(candidate, "rb") as handle:
        if handle.read(2) == b"PK":
            return False
    try:
        return safetensors_metadata(candidate).get("format") == DUMP_FORMAT
    except InputError:
        return False  # not safetensors at all: the weights reader says what it is


def inspect_dump(path: Path) -> DumpInspection:
    from yolo10port.dumps.reader import DumpReader, read_dump_metadata
    from yolo10port.dumps.validate import check_dump_metadata

    raw = read_dump_metadata(path)
    check_dump_metadata(path, raw)  # floors that are not numbers, an order that is not a list: exit 2, named
    ordered = [e for e in DUMP_HEADLINE if e in raw] + sorted(e for e in raw if e not in DUMP_HEADLINE)
    metadata: dict[str, Any] = {entry: raw[entry] for entry in ordered}
    for entry in JSON_METADATA:
        # A foreign dump may write anything there: what is not JSON is shown as the string it is.
        with contextlib.suppress(KeyError, json.JSONDecodeError):
            metadata[entry] = json.loads(metadata[entry])
    floors = metadata.get("noise_floor") if isinstance(metadata.get("noise_floor"), dict) else {}

    def rows(key: str) -> dict[str, float]:
        return {row: value for row, value in floors.items() if row == key or row.startswith(f"{key}/")}

    with DumpReader(path) as reader:
        keys = [DumpKey(k, list(reader.shape(k)), reader.dtype_code(k), rows(k)) for k in reader.keys()]
    order = metadata.get("order")
    if isinstance(order, list):  # execution order, as written; keys the order omits go last
        rank = {key: i for i, key in enumerate(order)}
        keys.sort(key=lambda k: rank.get(k.key, len(rank)))
    return DumpInspection(path, metadata, keys)


def inspect_weights(
    path: str | os.PathLike, imgsz: int = 640, scale: str | None = None, nc: int | None = None
) -> WeightsInspection:
    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.weights.reader import read_weights

    check_imgsz(imgsz)  # a multiple of 32, and within the bound: 32e9 would be tried, and fail, in torch
    weights = read_weights(path, scale=scale, nc=nc)  # before the model's imports: a refused file costs no torch
    from yolo10port.model.loading import LoadError, model_from_weights
    from yolo10port.weights.cost import inference_cost

    try:
        model = model_from_weights(weights, scale, nc)  # strict: every tensor accounted for, or exit 2
    except LoadError as error:
        raise InputError(weights.path, str(error)) from None
    costs = inference_cost(model, imgsz)
    state = weights.state_dict
    # Module names are the clean model's (the network the figures are of), so every form of one checkpoint shows
    # the same table; ultralytics spells the head v10Detect.
    rows = [LayerRow(c.index, c.type, c.parameters, c.flops, c.output_shape) for c in costs]
    return WeightsInspection(
        weights=weights,
        imgsz=imgsz,
        tensors=len(state),
        params_total=sum(t.numel() for k, t in state.items() if not k.endswith(BUFFERS)),
        params_inference=sum(c.parameters for c in costs),
        flops=sum(c.flops for c in costs),
        layers=rows,
    )
