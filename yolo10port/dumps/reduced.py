"""Reduced-precision and fast-kernel arithmetic in torch, for the floors a reference records per precision.

Three ways a float32 network can be computed less exactly, each as a context in which an unchanged network runs:
- **float16 / bfloat16**: the network itself is cast to that dtype and run (what a half-precision port does);
- **TF32** (`emulate_tf32`): every convolution and matmul rounds its two operands to TensorFloat-32 (10 explicit
  mantissa bits, round to nearest even) and accumulates in float32, as NVIDIA's tensor cores do with TF32 on. An
  emulation, so that a CPU can measure it; not yet compared with a real GPU run (README, "Reduced precision");
- **Winograd** (`winograd_convolutions`): every 3×3, stride-1, ungrouped convolution is computed by the Winograd
  F(6,3) transform in float32 (ncnn's default for such convolutions on ARM and x86), whose transforms amplify
  float32 rounding by a few times over a direct convolution. F(4,3) is there too, as another fast kernel.

The floors are measured by running the reference network inside these contexts (reference/dump.py); the same
contexts make honest candidates for the calibration (candidates/clean.py, workflows/selftest).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction as Q

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# --- TF32 -------------------------------------------------------------------------------------------------------

_MATMULS = {"conv2d", "conv1d", "matmul", "__matmul__", "__rmatmul__", "bmm", "mm", "linear", "addmm", "baddbmm"}


def round_to_tf32(tensor: torch.Tensor) -> torch.Tensor:
    """float32 → the nearest TF32 value (8-bit exponent, 10-bit mantissa; ties to even), still stored as float32."""
    if tensor.dtype != torch.float32:
        return tensor
    bits = tensor.contiguous().view(torch.int32).to(torch.int64)
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & ~0x1FFF
    finite = torch.isfinite(tensor)
    return torch.where(finite, rounded.to(torch.int32).view(torch.float32), tensor)


class _Tf32Operands(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _MATMULS:
            operands = [round_to_tf32(a) if isinstance(a, torch.Tensor) else a for a in args[:2]]
            args = (*operands, *args[2:])
            if "weight" in kwargs and isinstance(kwargs["weight"], torch.Tensor):
                kwargs = {**kwargs, "weight": round_to_tf32(kwargs["weight"])}
        return func(*args, **kwargs)


@contextlib.contextmanager
def emulate_tf32() -> Iterator[None]:
    """Inside: convolutions and matmuls round their operands to TF32, then accumulate in float32."""
    with _Tf32Operands():
        yield


# --- Winograd ---------------------------------------------------------------------------------------------------


def _matrix(rows) -> torch.Tensor:
    return torch.tensor([[float(Q(v)) for v in row] for row in rows], dtype=torch.float64)


# F(6,3), interpolation points 0, ±1, ±2, ±1/2, ∞: the matrices ncnn's conv3x3s1_winograd63 uses (wincnn's).
F63 = {
    "G": _matrix(
        [
            [1, 0, 0],
            ["-2/9", "-2/9", "-2/9"],
            ["-2/9", "2/9", "-2/9"],
            ["1/90", "1/45", "2/45"],
            ["1/90", "-1/45", "2/45"],
            ["1/45", "1/90", "1/180"],
            ["1/45", "-1/90", "1/180"],
            [0, 0, 1],
        ]
    ),
    "BT": _matrix(
        [
            [1, 0, "-21/4", 0, "21/4", 0, -1, 0],
            [0, 1, 1, "-17/4", "-17/4", 1, 1, 0],
            [0, -1, 1, "17/4", "-17/4", -1, 1, 0],
            [0, "1/2", "1/4", "-5/2", "-5/4", 2, 1, 0],
            [0, "-1/2", "1/4", "5/2", "-5/4", -2, 1, 0],
            [0, 2, 4, "-5/2", -5, "1/2", 1, 0],
            [0, -2, 4, "5/2", -5, "-1/2", 1, 0],
            [0, -1, 0, "21/4", 0, "-21/4", 0, 1],
        ]
    ),
    "AT": _matrix(
        [
            [1, 1, 1, 1, 1, 32, 32, 0],
            [0, 1, -1, 2, -2, 16, -16, 0],
            [0, 1, 1, 4, 4, 8, 8, 0],
            [0, 1, -1, 8, -8, 4, -4, 0],
            [0, 1, 1, 16, 16, 2, 2, 0],
            [0, 1, -1, 32, -32, 1, -1, 1],
        ]
    ),
}
# F(4,3), points 0, ±1, ±2, ∞ (Lavin & Gray).
F43 = {
    "G": _matrix(
        [
            ["1/4", 0, 0],
            ["-1/6", "-1/6", "-1/6"],
            ["-1/6", "1/6", "-1/6"],
            ["1/24", "1/12", "1/6"],
            ["1/24", "-1/12", "1/6"],
            [0, 0, 1],
        ]
    ),  # fmt: skip
    "BT": _matrix(
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ]
    ),  # fmt: skip
    "AT": _matrix([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}
WINOGRAD = {"F(6,3)": F63, "F(4,3)": F43}


def winograd_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int, kind=F63):
    """A 3×3, stride-1, ungrouped convolution by the Winograd transform, in x's dtype: tiles of m×m outputs from
    (m+2)×(m+2) inputs, V = Bᵀ d B, U = G g Gᵀ, M = Σ_c U·V, Y = Aᵀ M A."""
    dtype = x.dtype
    G, BT, AT = (kind[name].to(device=x.device, dtype=dtype) for name in ("G", "BT", "AT"))
    m, alpha = AT.shape[0], BT.shape[0]
    n, _, h, w = x.shape
    out_h, out_w = h + 2 * padding - 2, w + 2 * padding - 2
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    # Pad to whole tiles: the extra zero rows and columns only feed outputs that are cropped away.
    padded = F.pad(x, (padding, tiles_w * m + 2 - w - padding, padding, tiles_h * m + 2 - h - padding))
    d = padded.unfold(2, alpha, m).unfold(3, alpha, m)  # (N, C, tiles_h, tiles_w, α_i, α_j)
    c, o = d.shape[1], weight.shape[0]
    # Each transform is two passes of one large matmul (rows, then columns), as a fast kernel computes it; never
    # a batch of tiny 8×8 matmuls, which is ~100× slower on a CPU.
    rows = (BT @ d.movedim(4, 0).reshape(alpha, -1)).reshape(alpha, n, c, tiles_h, tiles_w, alpha)
    V = rows.reshape(-1, alpha) @ BT.T  # (α_a, N, C, tiles_h, tiles_w) × α_b: V = Bᵀ d B
    V = V.reshape(alpha, n, c, tiles_h, tiles_w, alpha).permute(0, 5, 2, 1, 3, 4).reshape(alpha * alpha, c, -1)
    U = (G @ weight.to(dtype) @ G.T).permute(2, 3, 0, 1).reshape(alpha * alpha, o, c)  # U = G g Gᵀ
    M = (U @ V).reshape(alpha, alpha, o, n, tiles_h, tiles_w)  # Σ over channels, per point (a, b) of the tile
    rows = (AT @ M.reshape(alpha, -1)).reshape(m, alpha, o, n, tiles_h, tiles_w)
    Y = rows.movedim(1, -1).reshape(-1, alpha) @ AT.T  # Y = Aᵀ M A: (m_i, O, N, tiles_h, tiles_w, m_j)
    Y = Y.reshape(m, o, n, tiles_h, tiles_w, m).permute(2, 1, 3, 0, 4, 5).reshape(n, o, tiles_h * m, tiles_w * m)
    Y = Y[:, :, :out_h, :out_w]
    return Y if bias is None else Y + bias.to(dtype).view(1, -1, 1, 1)


def _winograd_fits(args, kwargs) -> tuple | None:
    """(x, weight, bias, padding) when a conv2d call is one Winograd computes: 3×3, stride 1, no dilation, one
    group, symmetric integer padding; else None (that conv stays direct, as in ncnn)."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    call = dict(zip(names, args)) | kwargs
    x, weight = call.get("input"), call.get("weight")
    stride, padding = call.get("stride", 1), call.get("padding", 0)
    dilation, groups = call.get("dilation", 1), call.get("groups", 1)
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    if weight is None or tuple(weight.shape[2:]) != (3, 3) or groups != 1 or x.dim() != 4:
        return None
    if pair(stride) != (1, 1) or pair(dilation) != (1, 1) or isinstance(padding, str):
        return None
    pad = pair(padding)
    if pad[0] != pad[1]:
        return None
    return x, weight, call.get("bias"), pad[0]


class _Winograd(TorchFunctionMode):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.convolutions = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") == "conv2d":
            fits = _winograd_fits(args, kwargs)
            if fits is not None:
                self.convolutions += 1
                with torch._C.DisableTorchFunction():
                    return winograd_conv2d(*fits, kind=self.kind)
        return func(*args, **kwargs)


@contextlib.contextmanager
def winograd_convolutions(kind: str = "F(6,3)") -> Iterator[_Winograd]:
    """Inside: every 3×3 stride-1 ungrouped conv2d is computed by Winograd `kind` (F(6,3) or F(4,3))."""
    with _Winograd(WINOGRAD[kind]) as mode:
        yield mode


# --- what a candidate computes with -----------------------------------------------------------------------------

# A candidate's arithmetic beside its dtype: name → (context, the precision it records in its dump's metadata).
ARITHMETIC = {
    "winograd": (lambda: winograd_convolutions("F(6,3)"), "winograd"),
    "winograd-f43": (lambda: winograd_convolutions("F(4,3)"), "winograd"),
    "tf32-emulated": (emulate_tf32, "tf32"),
}


def arithmetic_context(name: str | None):
    """The context a candidate's forward runs in for `name` (None: plain torch arithmetic)."""
    return contextlib.nullcontext() if name is None else ARITHMETIC[name][0]()


def candidate_precision(dtype: str, tf32_on_cuda: bool, arithmetic: str | None) -> str:
    """What a torch candidate truly computes in, for its dump's `precision` metadata."""
    if arithmetic is not None:
        return ARITHMETIC[arithmetic][1]
    if tf32_on_cuda and dtype == "float32":
        return "tf32"
    return dtype
