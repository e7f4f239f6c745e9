"""What a YOLOv10 can be, checked before any tensor is allocated: a small file can never ask for a large cost.

A checkpoint names its tensors' shapes, strides and storages; a hostile one names a 45000×45000 view of one
float, one storage 3000 times, a zip member that inflates to gigabytes, a module tree 3000 levels deep or one
whose 40 levels share their children (2^40 paths). The reader checks all of it against these bounds, from the
file's own declarations, before it reads, copies or walks anything:

- storages: each zip member holds exactly the bytes the pickle declares for it, and all of them together at most
  `MAX_CHECKPOINT_BYTES` (x trained with 10000 classes, EMA, model and optimizer state in float32 is ~1 GB);
- views: no tensor has more elements than its storage, nor reaches past it (a stride-0 view cannot amplify);
- the module tree: at most `MAX_MODULE_DEPTH` deep and `MAX_MODULES` module paths (a shared module counted at
  every path it is reached by, so shared children cannot make the walk exponential);
- the state dict: at most the keys and elements of the unfused YOLOv10 of its scale and class count (with its
  one-to-many head), plus 1 %, and no tensor larger than that model's largest; at most `MAX_NC` classes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from yolo10port.errors import InputError

MAX_NC = 10_000  # classes (LVIS has 1203, Objects365 365, Open Images 601)
MAX_NAME_CHARS = 1_000  # one class name
MAX_CHECKPOINT_BYTES = 2 << 30  # all storages of one checkpoint together
MAX_PICKLE_BYTES = 64 << 20  # a checkpoint's data.pkl (x's training checkpoint: well under 1 MB)
MAX_MODULE_DEPTH = 32  # YOLOv10's deepest module path has 8 parts
MAX_MODULES = 5_000  # module paths; x has 688 modules, and ~900 paths counting its shared SiLU at every Conv
SLACK = 1.01  # the unfused model's counts, plus 1 %: older writers may keep a few more buffers


def _shape_text(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


@functools.cache
def expected_counts(scale: str, nc: int) -> tuple[int, int, int]:
    """(keys, elements, largest tensor's elements) of the unfused YOLOv10 of this scale and class count as
    ultralytics saves it: the clean model's tensors plus the one-to-many head (a copy of the one-to-one head's
    shapes). The model is built for its shapes: 0.2 s for n, 1 s for x, a cost set by the scale and nc alone,
    never by the file (torch's meta device would cost a 10 s import of torch._dynamo instead)."""
    from yolo10port.model.yolov10 import YOLOv10

    model = YOLOv10(scale, nc)
    shapes = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    one2many = [shape for key, shape in shapes.items() if key.startswith("model.23.one2one_")]
    keys = len(shapes) + len(one2many)
    elements = sum(map(numel, shapes.values())) + sum(map(numel, one2many))
    return keys, elements, max(map(numel, shapes.values()))


def check_state_dict(path: str | Path, shapes: Mapping[str, tuple[int, ...]], scale: str, nc: int) -> None:
    """Every tensor of a state dict (under ultralytics' names) within what YOLOv10-`scale` with `nc` classes holds;
    InputError naming the file otherwise. Called with shapes only, before any tensor is copied."""
    check_nc(path, nc)
    keys, elements, largest = expected_counts(scale, nc)
    if len(shapes) > keys * SLACK:
        raise InputError(path, f"{len(shapes)} tensors, more than the {keys} of an unfused YOLOv10-{scale} nc={nc}")
    total = 0
    for key, shape in shapes.items():
        count = numel(shape)
        if count > largest:
            raise InputError(
                path,
                f"tensor {key} of shape {_shape_text(shape)} has {count:,} elements, more than the largest tensor "
                f"of YOLOv10-{scale} nc={nc} ({largest:,})",
            )
        total += count
    if total > elements * SLACK:
        raise InputError(
            path, f"{total:,} elements in all, more than the {elements:,} of an unfused YOLOv10-{scale} nc={nc}"
        )


def check_nc(path: str | Path, nc: int) -> None:
    if not 1 <= nc <= MAX_NC:
        raise InputError(path, f"{nc} classes; a YOLOv10 here has 1 to {MAX_NC}")


def check_names(path: str | Path, names: Mapping[int, str]) -> None:
    if len(names) > MAX_NC:
        raise InputError(path, f"{len(names):,} class names; at most {MAX_NC} are accepted")
    long = next((n for n in names.values() if len(n) > MAX_NAME_CHARS), None)
    if long is not None:
        raise InputError(path, f"a class name of {len(long):,} characters; at most {MAX_NAME_CHARS} are accepted")
