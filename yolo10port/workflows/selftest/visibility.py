"""Whether a planted bug can be seen at all on an input: its own effect, measured without rounding, against the floor.

A bug the checker did not catch is a miss only if it moved its layer further than float32 rounding does. Some bugs
change nothing measurable on some models or inputs: the attention-scale bugs on a model whose attention is inert
(YOLOv10s after two epochs on the shapes: attention logits within 2e-4 of each other, so the softmax is uniform
whatever the scale, and its values constant over positions; the bug moves model.10 by 1e-8 on every input, 0.05×
the float32 floor), or a × 1.001 weight deep in a large model fed noise. No tolerance can see those without failing
honest ports, so `selftest` measures each uncaught bug's true effect and reports it as "below the noise on this
input", never as a silent pass and never as a checker miss.

The effect is the bugged clean model against the clean model, both in float64 (the same loaded weights, the same
input), at the rows of the layer the bug is in, in units of the floor that judged them there: max(max|Δ| ÷ unit,
mean|Δ| ÷ mean unit), with unit = max(floor, ε · max|ref|) as the rule uses (compare/rules.py). Below 1, float32's
own rounding moves that layer further than the bug does.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from yolo10port.dumps.capture import Recorder, hooked
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.keys import rows_of
from yolo10port.dumps.spec import RunSpec
from yolo10port.model import YOLOv10

VISIBLE = 1.0  # in floors: a bug that moves its layer less than float32 rounding does is invisible there


def float64_copy(model: YOLOv10) -> YOLOv10:
    """A float64 copy to plant a bug in. Planted after the copy, never before: a bug that wraps a module's forward
    holds that very module, and a deep copy would keep calling the float32 original."""
    return copy.deepcopy(model).to(dtype=torch.float64)


def layer_outputs(model: YOLOv10, spec: RunSpec) -> dict[str, np.ndarray]:
    """Every top-level layer's output (the decoded head as its two rows), `model` (a float64_copy) run on CPU."""
    images = make_input(spec.but(device="cpu"), torch.float64).tensor
    outputs: dict[str, np.ndarray] = {}

    def keep(key: str, tensor: torch.Tensor) -> None:
        for name, array in rows_of(key, tensor.detach().cpu().numpy()):
            outputs[name] = array

    with hooked(model, Recorder(keep), depth=1), torch.inference_mode():
        model.decoded(images)
    return outputs


def effect_in_floors(
    clean: dict[str, np.ndarray], bugged: dict[str, np.ndarray], rows: list, eps: float
) -> float | None:
    """The bug's effect at `rows` (the report's rows of its layer, which carry the floors that judged them), in floors:
    the largest of max|Δ| ÷ max(floor, ε·max|ref|) and mean|Δ| ÷ max(mean floor, ε·max|ref|); None when no row has a
    floor (a fixed-rule reference) or the shapes differ (the bug changed the layout: it is visible)."""
    effects = []
    for row in rows:
        ref, cand = clean.get(row.name), bugged.get(row.name)
        if ref is None or cand is None or row.floor is None:
            continue
        if ref.shape != cand.shape:
            return None
        delta = np.abs(cand - ref)
        if not np.isfinite(delta).all():
            return None
        scale = eps * float(np.abs(ref).max())
        effects.append(float(delta.max()) / max(row.floor, scale, 1e-300))
        if row.mean_floor is not None:
            effects.append(float(delta.mean()) / max(row.mean_floor, scale, 1e-300))
    return max(effects) if effects else None
