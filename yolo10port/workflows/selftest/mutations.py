"""Real porting bugs, planted in a loaded clean model: what `selftest` proves the checker catches.

Each mutation changes a model instance in place (a module swapped, an attribute changed, one instance's forward
replaced); the model's code is untouched, and module paths stay the same so the dumps still align.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from yolo10port.model import YOLOv10
from yolo10port.model.blocks import SPPF, Attention, RepVGGDW
from yolo10port.model.head import V10Detect


@dataclass(frozen=True)
class Mutation:
    name: str
    bug: str  # what a porter would have got wrong
    plant: Callable[[YOLOv10, dict[str, torch.Tensor]], None]  # (model, the checkpoint's state dict)
    # The row where the checker must first see it, the layer the bug is in; or, for a bug in a block only some
    # scales have, a function of the model giving that layer, or None where the block does not exist.
    first: str | Callable[[YOLOv10], str | None]
    layers: str | None = None  # compare only these (--layer), e.g. to prove a bug is caught without `detections`

    def layer_in(self, model: YOLOv10) -> str | None:
        """The layer this bug lands in for `model`; None when the model has nothing to plant it in."""
        return self.first(model) if callable(self.first) else self.first


def first_layer_with(kind: type[nn.Module]) -> Callable[[YOLOv10], str | None]:
    """The first top-level layer holding a `kind` module (RepVGGDW: model.8 and model.22 on s, model.22 on n,
    none on m, b, l, x, whose CIBs use a plain 3×3 instead of the large kernel)."""

    def locate(model: YOLOv10) -> str | None:
        for index, layer in enumerate(model.model):
            if any(isinstance(module, kind) for module in layer.modules()):
                return f"model.{index}"
        return None

    return locate


def _wrap_forward(module: nn.Module, wrap: Callable[[Callable, object], object]) -> None:
    original = module.forward
    module.forward = types.MethodType(lambda self, x: wrap(original, x), module)


def rgb_bgr(model, _):
    _wrap_forward(model.model[0], lambda forward, x: forward(x.flip(1)))


def hw_transpose(model, _):
    _wrap_forward(model.model[0], lambda forward, x: forward(x.transpose(2, 3)))


def batchnorm_eps(model, _):
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-5


class ZeroPaddedMaxPool(nn.Module):
    """Candle's yolo-v8 SPPF: pad with zeros, then pool — differs wherever a window reaches a negative border."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x):
        return nn.functional.max_pool2d(nn.functional.pad(x, [self.k // 2] * 4, value=0.0), self.k, 1)


def sppf_zero_padding(model, _):
    for module in model.modules():
        if isinstance(module, SPPF):
            module.m = ZeroPaddedMaxPool(module.m.kernel_size)


def silu_as_relu(model, _):
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.SiLU):
                setattr(parent, name, nn.ReLU())


def _qkv_split_across_heads(self, x):
    B, C, H, W = x.shape
    # The bug: q, k, v taken as three contiguous blocks of channels, then cut into heads.
    q, k, v = self.qkv(x).split([self.key_dim * self.num_heads] * 2 + [C], dim=1)
    q = q.reshape(B, self.num_heads, self.key_dim, H * W)
    k = k.reshape(B, self.num_heads, self.key_dim, H * W)
    v = v.reshape(B, self.num_heads, self.head_dim, H * W)
    weights = ((q * self.scale).transpose(-2, -1) @ k).softmax(dim=-1)
    out = (v @ weights.transpose(-2, -1)).view(B, C, H, W)
    return self.proj(out + self.pe(v.reshape(B, C, H, W)))


def qkv_across_heads(model, _):
    for module in model.modules():
        if isinstance(module, Attention):
            module.forward = types.MethodType(_qkv_split_across_heads, module)


def attention_scale_omitted(model, _):
    for module in model.modules():
        if isinstance(module, Attention):
            module.scale = 1.0


def attention_scale_by_head_dim(model, _):
    """The scale taken from the value width, 1/√head_dim, instead of the key width, 1/√key_dim: qkv, pe and proj
    are each right; the fault is in the attention's own arithmetic, between them."""
    for module in model.modules():
        if isinstance(module, Attention):
            module.scale = module.head_dim**-0.5


def repvggdw_without_3x3(model, _):
    for module in model.modules():
        if isinstance(module, RepVGGDW):
            del module.conv1


def dfl_bins_off_by_one(model, _):
    head = model.model[23]
    head.dfl.conv.weight.data += 1.0  # expectation over bins 1…16 instead of 0…15


def one_to_many_head(model, state_dict):
    # The checkpoint carries both heads; a port that loads cv2/cv3 (one-to-many) instead of one2one_cv2/cv3.
    head = model.model[23]
    prefix = "model.23."
    for key, tensor in head.state_dict().items():
        source = prefix + key.replace("one2one_", "")
        if key.startswith("one2one_") and source in state_dict:
            tensor.copy_(state_dict[source].to(tensor.dtype))


def anchors_at_corners(model, _):
    model.model[23].anchor_offset = 0.0


def boxes_as_xywh(model, _):
    def to_xywh(forward, feats):
        decoded = forward(feats)
        (x1, y1, x2, y2), rest = decoded[:, :4].unbind(1), decoded[:, 4:]
        centre_size = torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), 1)
        return torch.cat((centre_size, rest), 1)

    head = model.model[23]
    assert isinstance(head, V10Detect)
    _wrap_forward(head, to_xywh)


def _first_conv_weight(layer: nn.Module) -> torch.Tensor | None:
    return next((p for name, p in layer.named_parameters() if name.endswith("conv.weight")), None)


def weight_scaled(index: int, factor: float = 1.001) -> Callable[[YOLOv10, dict], None]:
    """One weight tensor of model.<index> (its first conv's) × 1.001: the smallest bug a port makes (a rounding
    slip in a converted weight). model.11/12/14/15/18/21 hold no weights (Upsample, Concat): their output × 1.001."""

    def plant(model, _):
        layer = model.model[index]
        weight = _first_conv_weight(layer)
        if weight is not None:
            with torch.no_grad():
                weight.mul_(factor)
        else:
            _wrap_forward(layer, lambda forward, x: forward(x) * factor)

    return plant


def class_scores_off(model, _):
    """Class 0's scores 0.03 too high everywhere (a wrong bias or sigmoid approximation in one class)."""

    def shift(forward, feats):
        decoded = forward(feats).clone()
        decoded[:, 4] += 0.03
        return decoded

    _wrap_forward(model.model[23], shift)


MUTATIONS: list[Mutation] = [
    Mutation("rgb-bgr", "input channels in BGR order (OpenCV's) instead of RGB", rgb_bgr, "model.0"),
    Mutation("hw-transpose", "image read as W×H instead of H×W", hw_transpose, "model.0"),
    Mutation(
        "bn-eps-1e-5", "BatchNorm eps 1e-5 (PyTorch's default) instead of ultralytics' 1e-3", batchnorm_eps, "model.0"
    ),
    Mutation("sppf-zero-pad", "SPPF max-pool padded with zeros instead of −inf", sppf_zero_padding, "model.9"),
    Mutation("silu-relu", "SiLU replaced by ReLU", silu_as_relu, "model.0"),
    Mutation(
        "qkv-across-heads", "q/k/v split across all heads instead of within each head", qkv_across_heads, "model.10"
    ),
    Mutation("attn-no-scale", "attention scale 1/√key_dim omitted", attention_scale_omitted, "model.10"),
    Mutation(
        "attn-scale-head-dim",
        "attention scale 1/√head_dim instead of 1/√key_dim",
        attention_scale_by_head_dim,
        "model.10",
    ),  # fmt: skip
    Mutation(
        "repvggdw-no-3x3", "RepVGGDW's parallel 3×3 branch dropped", repvggdw_without_3x3, first_layer_with(RepVGGDW)
    ),
    Mutation("dfl-off-by-one", "DFL bins 1…16 instead of 0…15", dfl_bins_off_by_one, "model.23/boxes"),
    Mutation(
        "one-to-many-head", "one-to-many head weights loaded into the one-to-one head", one_to_many_head, "model.23"
    ),
    Mutation(
        "anchor-offset-0", "anchors at cell corners (offset 0), not centres (0.5)", anchors_at_corners, "model.23/boxes"
    ),
    Mutation("boxes-xywh", "decoded boxes left as xywh instead of xyxy", boxes_as_xywh, "model.23/boxes"),
    Mutation(
        "class-score-0.03",
        "class 0's scores 0.03 too high (caught without `detections`: compared up to model.23 only)",
        class_scores_off,
        "model.23/scores",
        layers="0..22,model.23",
    ),
]


# The smallest bugs: one weight tensor × 1.001 in each layer (README, "Comparing and tolerances": what sets K).
WEIGHTLESS = {11: "Upsample", 12: "Concat", 14: "Upsample", 15: "Concat", 18: "Concat", 21: "Concat"}  # all scales


def _weight_bug(index: int, factor: float = 1.001) -> str:
    if index in WEIGHTLESS:  # no weight to scale: the output is, which is what weight_scaled plants there
        return f"the output of model.{index} ({WEIGHTLESS[index]}, no weights) × {factor:g}"
    return f"one weight of model.{index} × {factor:g}"


def weight_mutations(factor: float = 1.001) -> list[Mutation]:
    """One weight tensor × `factor` in each layer: in float16 a ×1.001 slip is below what float16 itself moves, so
    `selftest --precision float16 --weight-factor 1.01` measures what is caught there (README, Reduced precision)."""
    return [
        Mutation(f"weight×{factor:g}-model.{i}", _weight_bug(i, factor), weight_scaled(i, factor), f"model.{i}")
        for i in range(23)
    ]


WEIGHT_MUTATIONS: list[Mutation] = weight_mutations(1.001)


# --- What outside ports got wrong (issue 22), planted for the hint confusion table (tests/test_hints_confusion.py) --


def scores_without_sigmoid(model, _):
    def logits(forward, feats):
        decoded = forward(feats).clone()
        decoded[:, 4:] = torch.logit(decoded[:, 4:].double(), eps=1e-12).to(decoded.dtype)
        return decoded

    _wrap_forward(model.model[23], logits)


def scores_sigmoid_twice(model, _):
    def twice(forward, feats):
        decoded = forward(feats).clone()
        decoded[:, 4:] = decoded[:, 4:].sigmoid()
        return decoded

    _wrap_forward(model.model[23], twice)


def concat_inputs_swapped(model, _):
    _wrap_forward(model.model[12], lambda forward, xs: forward(list(xs)[::-1]))


def upsample_bilinear(model, _):
    model.model[11].mode = "bilinear"


def _fake_quantize(tensor: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Symmetric int8: round to 255 levels over the range (per output channel when `dim` is given)."""
    if dim is None:
        scale = tensor.abs().max().clamp_min(1e-12) / 127
    else:
        scale = tensor.abs().amax(dim=tuple(d for d in range(tensor.ndim) if d != dim), keepdim=True) / 127
        scale = scale.clamp_min(1e-12)
    return (tensor / scale).round().clamp(-127, 127) * scale


def int8_quantized(model, _):
    """An INT8 graph's arithmetic: weights per output channel, activations per tensor, both on 8 bits."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.copy_(_fake_quantize(module.weight, dim=0))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            _wrap_forward(module, lambda forward, x: forward(_fake_quantize(x)))


OUTSIDE_BUGS: list[Mutation] = [
    Mutation(
        "scores-no-sigmoid", "class scores left as logits (no sigmoid)", scores_without_sigmoid, "model.23/scores"
    ),
    Mutation(
        "scores-sigmoid-twice", "sigmoid applied twice to the class scores", scores_sigmoid_twice, "model.23/scores"
    ),
    Mutation("concat-swapped", "the two inputs of model.12's Concat swapped", concat_inputs_swapped, "model.12"),
    Mutation("upsample-bilinear", "model.11's nearest upsample done bilinear", upsample_bilinear, "model.11"),
    Mutation("int8", "an INT8 graph (weights and activations quantized)", int8_quantized, "model.0"),
]
