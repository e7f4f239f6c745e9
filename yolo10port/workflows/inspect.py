"""`yolo10port inspect`: what a weights file holds, and each layer's output shape at 640 (run on the clean model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from yolo10port.dumps.capture import Recorder, hooked
from yolo10port.model.loading import model_from_weights
from yolo10port.weights.reader import Weights, read_weights


@dataclass
class LayerInfo:
    index: int
    type: str
    parameters: int
    output_shape: list[int]


@dataclass
class Inspection:
    weights: Weights
    parameters: int
    layers: list[LayerInfo] = field(default_factory=list)


def inspect_weights(path: str | Path, imgsz: int = 640) -> Inspection:
    weights = read_weights(path)
    model = model_from_weights(weights)
    shapes: dict[str, list[int]] = {}
    recorder = Recorder(lambda key, tensor: shapes.setdefault(key.split("/")[0], list(tensor.shape)))
    with hooked(model, recorder, depth=1), torch.inference_mode():
        model.eval().decoded(torch.zeros(1, 3, imgsz, imgsz))
    info = Inspection(
        weights, sum(t.numel() for k, t in weights.state_dict.items() if not k.endswith("num_batches_tracked"))
    )
    for i in range(24):
        prefix = f"model.{i}."
        params = sum(
            t.numel()
            for k, t in weights.state_dict.items()
            if k.startswith(prefix) and not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        )
        module_type = weights.module_types.get(f"model.{i}") or type(model.model[i]).__name__
        info.layers.append(LayerInfo(i, module_type, params, shapes.get(f"model.{i}", [])))
    return info
