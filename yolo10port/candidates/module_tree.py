"""What every exported candidate shares: the reference's module tree, why a module has no counterpart in an
export, and the checkpoint's BatchNorm-folded stem that tells an export of these weights from one of others.

ONNX graphs, ncnn and LiteRT models are all fused exports: their dumps list the reference's modules they cannot give
(`no_counterpart` metadata, with the reason), and each is checked against the weights by model.0's conv.
"""

from __future__ import annotations

import functools

import numpy as np

from yolo10port.dumps.keys import DECODED_HEAD
from yolo10port.weights.reader import Weights

# model.0's conv vs the checkpoint's: other weights score ~0, a planted 1.001 bug ~1. An INT8 graph's stem is read
# dequantized (per-channel int8: each weight within half a step), and scores 0.99999 (n fixture and shapes detector,
# quantize_static): quantization moves the cosine by 1e-5, so the same threshold serves float and quantized graphs.
SAME_WEIGHTS_COSINE = 0.9


@functools.lru_cache(maxsize=8)
def reference_tree(scale: str, nc: int) -> dict[str, str]:
    """Module path → class name of YOLOv10-`scale` as ultralytics builds it (unfused), one-to-many head left out:
    the clean model's tree, whose paths equal ultralytics' (built on the meta device: no memory, no weights)."""
    import torch

    from yolo10port.model import YOLOv10

    with torch.device("meta"):
        model = YOLOv10(scale, nc)
    return {path: type(module).__name__ for path, module in model.named_modules()}


def why_absent(path: str, tree: dict[str, str]) -> str:
    """Why a module of the reference tree has no node in an exported (fused) graph."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 1, -1):  # the nearest RepVGGDW above: the export folds its two branches
        ancestor = ".".join(parts[:cut])
        if tree.get(ancestor) == "RepVGGDW":
            branch = "3×3 branch" if parts[cut] == "conv1" else "7×7 branch"
            return f"part of RepVGGDW's {branch}: the export folds both branches into one conv ({ancestor}.conv)"
    parent, kind = path.rpartition(".")[0], tree.get(path, "")
    if kind == "BatchNorm2d":
        return f"BatchNorm folded into {parent}.conv, whose output in the graph is this BatchNorm's output"
    if kind == "Identity":
        return f"an Identity (no activation): no node in the graph, the same tensor as {parent}.conv"
    return "no node of the graph is named after it"


def no_counterpart(keys: list[str], tree: dict[str, str], depth: int | None, within: str | None) -> dict[str, str]:
    """The module paths a reference dump at `depth` (inside `within`) holds that the graph cannot give, and why."""
    have = {key.split("#")[0] for key in keys}
    absent = {}
    for path, kind in tree.items():
        if not path.startswith("model.") or kind == "ModuleList" or path == DECODED_HEAD or path in have:
            continue
        if within is not None and path != within and not path.startswith(within + "."):
            continue
        if depth is None or path.count(".") <= depth:
            absent[path] = why_absent(path, tree)
    return absent


def folded_stem(weights: Weights) -> np.ndarray | None:
    """The checkpoint's model.0 conv weight with its BatchNorm folded in, as an export writes it."""
    state = weights.state_dict
    weight = state.get("model.0.conv.weight")
    if weight is None:
        return None
    weight = weight.double().numpy()
    if "model.0.bn.weight" in state:
        gamma, var = state["model.0.bn.weight"].double().numpy(), state["model.0.bn.running_var"].double().numpy()
        weight = weight * (gamma / np.sqrt(var + 1e-3)).reshape(-1, 1, 1, 1)  # ultralytics sets BN eps 1e-3
    return weight
