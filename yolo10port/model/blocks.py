"""The YOLOv10 building blocks, one small class each (arXiv 2405.14458, sections 3–4).

Attribute names follow ultralytics' module paths (`cv1`, `m.0`, `attn.qkv`, …) so that its weights load as they
are and forward hooks see the same paths on both sides. Every Conv can be fused (BatchNorm folded into the
convolution); the unfused path is kept for exact parity with the reference.
"""

from __future__ import annotations

import torch
from torch import nn

BN_EPS = 1e-3  # ultralytics' BatchNorm eps; not stored in the state dict, so it must be known here
BN_MOMENTUM = 0.03


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv with bias whose output equals bn(conv(x)) in eval mode."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
    ).to(conv.weight.dtype)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.data.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.data.copy_(bn.bias + (conv_bias - bn.running_mean) * scale)
    return fused.requires_grad_(False)


class Conv(nn.Module):
    """Convolution → BatchNorm → SiLU (or no activation), 'same' padding for odd kernels."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "bn"):
            return self.act(self.bn(self.conv(x)))
        return self.act(self.conv(x))

    def fuse(self) -> None:
        if hasattr(self, "bn"):
            self.conv = fold_batchnorm(self.conv, self.bn)
            del self.bn


class Bottleneck(nn.Module):
    """Two 3×3 Convs with an optional residual (C2f's inner block)."""

    def __init__(self, c: int, shortcut: bool):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Split the 1×1 projection in two halves, chain n blocks on the second, concatenate every stage."""

    def __init__(self, c1: int, c2: int, n: int, shortcut: bool):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(self.make_block(shortcut) for _ in range(n))

    def make_block(self, shortcut: bool) -> nn.Module:
        return Bottleneck(self.c, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stages = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            stages.append(block(stages[-1]))
        return self.cv2(torch.cat(stages, 1))


class RepVGGDW(nn.Module):
    """7×7 depthwise conv plus a parallel 3×3 depthwise branch; at inference the 3×3 folds into the 7×7."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = Conv(c, c, 7, g=c, act=False)
        self.conv1 = Conv(c, c, 3, g=c, act=False)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "conv1"):
            return self.act(self.conv(x) + self.conv1(x))
        return self.act(self.conv(x))

    def fuse(self) -> None:
        if not hasattr(self, "conv1"):
            return
        large = fold_batchnorm(self.conv.conv, self.conv.bn)
        small = fold_batchnorm(self.conv1.conv, self.conv1.bn)
        # A 3×3 kernel centred in a 7×7 one (2 zeros each side) computes the same correlation.
        large.weight.data += nn.functional.pad(small.weight.data, [2, 2, 2, 2])
        large.bias.data += small.bias.data
        self.conv = large  # ultralytics stores the fused kernel as a bare Conv2d at `conv`
        del self.conv1


class CIB(nn.Module):
    """Compact inverted block: depthwise 3×3 for space, pointwise 1×1 for channels (large kernel optional)."""

    def __init__(self, c: int, shortcut: bool, large_kernel: bool):
        super().__init__()
        hidden = 2 * c
        self.cv1 = nn.Sequential(
            Conv(c, c, 3, g=c),
            Conv(c, hidden, 1),
            RepVGGDW(hidden) if large_kernel else Conv(hidden, hidden, 3, g=hidden),
            Conv(hidden, c, 1),
            Conv(c, c, 3, g=c),
        )
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        return x + y if self.add else y


class C2fCIB(C2f):
    """C2f whose blocks are CIBs: used at the stages where rank-guided design found redundancy."""

    def __init__(self, c1: int, c2: int, n: int, shortcut: bool, large_kernel: bool):
        self.large_kernel = large_kernel
        super().__init__(c1, c2, n, shortcut)

    def make_block(self, shortcut: bool) -> nn.Module:
        return CIB(self.c, shortcut, self.large_kernel)


class SCDown(nn.Module):
    """Spatial-channel decoupled downsampling: 1×1 for channels, then a stride-2 depthwise conv for space."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 2):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1)
        self.cv2 = Conv(c2, c2, k, s, g=c2, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv2(self.cv1(x))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5×5 max-pools (−inf padding), concatenated."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1)
        self.cv2 = Conv(hidden * 4, c2, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    """Multi-head self-attention over the H·W positions, with a depthwise positional encoding on v.

    One 1×1 conv makes q, k and v for all heads; its output channels are laid out head by head, each head
    holding [q (key_dim) | k (key_dim) | v (head_dim)].
    """

    def __init__(self, dim: int, num_heads: int, attn_ratio: float = 0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        per_head = self.qkv(x).view(B, self.num_heads, 2 * self.key_dim + self.head_dim, H * W)
        q, k, v = per_head.split([self.key_dim, self.key_dim, self.head_dim], dim=2)
        # Scaling q before the product (not the product after) is what the reference does, bit for bit.
        weights = ((q * self.scale).transpose(-2, -1) @ k).softmax(dim=-1)  # (B, heads, N, N)
        out = (v @ weights.transpose(-2, -1)).view(B, C, H, W)
        return self.proj(out + self.pe(v.reshape(B, C, H, W)))


class PSA(nn.Module):
    """Partial self-attention: attention and a feed-forward net on half the channels, the other half passes."""

    def __init__(self, c: int):
        super().__init__()
        self.c = c // 2
        self.cv1 = Conv(c, 2 * self.c, 1)
        self.cv2 = Conv(2 * self.c, c, 1)
        self.attn = Attention(self.c, num_heads=max(self.c // 64, 1))
        self.ffn = nn.Sequential(Conv(self.c, 2 * self.c, 1), Conv(2 * self.c, self.c, 1, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        passed, attended = self.cv1(x).split((self.c, self.c), dim=1)
        attended = attended + self.attn(attended)
        attended = attended + self.ffn(attended)
        return self.cv2(torch.cat((passed, attended), 1))


class Concat(nn.Module):
    """Channel concatenation of a list of feature maps (a module so that it has a path and a hook)."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)
