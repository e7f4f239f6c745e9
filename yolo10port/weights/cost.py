"""What a YOLOv10 costs at inference, counted the way the paper counts it (arXiv 2405.14458, Table 1).

The paper's figures are those of the deployed model: BatchNorm folded into the convolutions, RepVGGDW's 3×3
branch folded into its 7×7, and the one-to-one head only (the one-to-many head guides training and is dropped).
Its FLOPs are those of thop, which sees module calls only: 2 × the multiply-accumulates of every convolution, and
nothing for bias adds, activations, pooling, upsampling or the attention's two matrix products (plain `@` in
forward). Counted that way on the clean model, the six scales reproduce the paper: N 2.3M/6.7G, S 7.2M/21.6G,
M 15.4M/59.1G, B 19.1M/92.0G, L 24.4M/120.3G, X 29.5M/160.4G at 640×640. (ultralytics-thop 2.x counts more,
e.g. 6.76G for N, and does not reproduce the table; that is why the count is written out here.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from yolo10port.model.yolov10 import YOLOv10

COUNTING = (
    "inference as the paper counts it: fused (BatchNorm and RepVGGDW folded), one-to-one head only; "
    "FLOPs = 2 × convolution multiply-accumulates (bias, activations, pooling, upsampling and the attention "
    "matmuls not counted)"
)


@dataclass
class LayerCost:
    index: int
    type: str
    parameters: int
    flops: int
    output_shape: list[int]


def inference_cost(model: YOLOv10, imgsz: int = 640) -> list[LayerCost]:
    """Per top-level layer of `model` (fused here if it is not): parameters, FLOPs at imgsz×imgsz, output shape."""
    if not model.is_fused:
        model.fuse(channels_last=False)
    macs = [0] * len(model.model)
    shapes: dict[int, list[int]] = {}

    def count(index: int):
        def hook(conv: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
            kh, kw = conv.kernel_size
            macs[index] += output.numel() * (conv.in_channels // conv.groups) * kh * kw

        return hook

    handles = [
        conv.register_forward_hook(count(i))
        for i, layer in enumerate(model.model)
        for conv in layer.modules()
        if isinstance(conv, nn.Conv2d)
    ]
    handles += [
        layer.register_forward_hook(lambda _m, _i, out, i=i: shapes.__setitem__(i, list(out.shape)))
        for i, layer in enumerate(model.model)
    ]
    try:
        with torch.inference_mode():
            model.eval().decoded(torch.zeros(1, 3, imgsz, imgsz))
    finally:
        for handle in handles:
            handle.remove()
    return [
        LayerCost(i, type(layer).__name__, sum(p.numel() for p in layer.parameters()), 2 * macs[i], shapes.get(i, []))
        for i, layer in enumerate(model.model)
    ]
