"""Load ultralytics-named tensors into the clean model with strict accounting.

Every tensor in the file is either consumed or deliberately ignored (the one-to-many head, BatchNorm's
`num_batches_tracked`); anything missing, unexpected or wrongly shaped is an error naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from yolo10port.model.yolov10 import YOLOv10

IGNORED_PREFIXES = ("model.23.cv2.", "model.23.cv3.")  # the one-to-many head: training only
IGNORED_SUFFIXES = (".num_batches_tracked",)


class LoadError(ValueError):
    """The tensors do not fit the model: a missing, unexpected or wrongly shaped key."""


@dataclass
class LoadReport:
    consumed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def is_ignored(key: str) -> bool:
    return key.startswith(IGNORED_PREFIXES) or key.endswith(IGNORED_SUFFIXES)


def load_state_dict(model: YOLOv10, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """Copy the tensors into `model` (fusing it first if the tensors are fused); strict about every key."""
    if not any(".bn." in key for key in state_dict) and not model.is_fused:
        model.fuse()  # fused weights: give the model the fused structure, then overwrite its values
    expected = {k: v for k, v in model.state_dict().items() if not is_ignored(k)}
    report = LoadReport()
    problems = []
    for key, tensor in state_dict.items():
        if is_ignored(key):
            report.ignored.append(key)
        elif key not in expected:
            problems.append(f"unexpected key {key} {tuple(tensor.shape)}")
        elif expected[key].shape != tensor.shape:
            problems.append(f"{key}: expected shape {tuple(expected[key].shape)}, found {tuple(tensor.shape)}")
        else:
            report.consumed.append(key)
    missing = [k for k in expected if k not in state_dict]
    problems += [f"missing key {k} {tuple(expected[k].shape)}" for k in missing]
    prefix = _wrapper_prefix(list(state_dict), expected)
    if prefix is not None:  # a prefix problem is named as one, not as hundreds of unexpected keys
        raise LoadError(
            f"keys start with {prefix + 'model.'!r} where ultralytics' names start with 'model.' "
            f"({prefix}model.0.conv.weight): remove {prefix!r}, or read the file with YOLOv10.from_file, "
            "which removes wrapper prefixes"
        )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LoadError(f"weights do not fit YOLOv10-{model.scale_name} nc={model.nc}: {problems[0]}{more}")
    with torch.no_grad():
        for key in report.consumed:
            expected[key].copy_(state_dict[key])
    return report


def _wrapper_prefix(keys: list[str], expected: Mapping[str, torch.Tensor]) -> str | None:
    """The prefix that, removed from every key, leaves exactly ultralytics' names (`model.` for `model.model.…`,
    `module.`); None when there is none or the keys are fine as they are."""
    stems = [key[: -len("model.0.conv.weight")] for key in keys if key.endswith("model.0.conv.weight")]
    for prefix in stems:
        if prefix and all(
            key.startswith(prefix) and (key[len(prefix) :] in expected or is_ignored(key[len(prefix) :]))
            for key in keys
        ):
            return prefix
    return None


def load_file(path: str | Path, scale: str | None = None, nc: int | None = None) -> YOLOv10:
    from yolo10port.weights.reader import read_weights

    return model_from_weights(read_weights(path, scale=scale, nc=nc), scale, nc)


def model_from_weights(weights, scale: str | None = None, nc: int | None = None) -> YOLOv10:
    """A YOLOv10 built for `weights` (a weights.reader.Weights; its scale and nc unless given) and loaded strictly."""
    model = YOLOv10(scale or weights.scale, nc if nc is not None else weights.nc)
    model.load_report = load_state_dict(model, weights.state_dict)
    model.names = weights.names
    return model.eval()
