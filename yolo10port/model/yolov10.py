"""YOLOv10: backbone, PAN neck and one-to-one head, built from a row of the scale table.

`model.0` … `model.23` are the same layers, in the same order and under the same paths, as in ultralytics.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from yolo10port.model.blocks import PSA, SPPF, C2f, C2fCIB, Concat, Conv, RepVGGDW, SCDown
from yolo10port.model.head import V10Detect, postprocess
from yolo10port.model.scales import SCALES, Scale


class YOLOv10(nn.Module):
    """Call on a (B, 3, H, W) float tensor in [0, 1] (RGB, H and W multiples of 32) → (B, max_det, 6)."""

    def __init__(self, scale: str = "s", nc: int = 80, max_det: int = 300):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
        self.scale_name, self.nc, self.max_det = scale, nc, max_det
        s = SCALES[scale]
        ch = s.channels

        def stage(i: int, c_in: int, c_out: int, n: int, shortcut: bool) -> nn.Module:
            if i in s.cib_layers:  # in the neck the C2fCIBs keep their residuals, C2fs do not
                return C2fCIB(c_in, ch(c_out), s.repeats(n), True, s.large_kernel)
            return C2f(c_in, ch(c_out), s.repeats(n), shortcut)

        layers: list[nn.Module] = [
            # backbone
            Conv(3, ch(64), 3, 2),  # 0  P1/2
            Conv(ch(64), ch(128), 3, 2),  # 1  P2/4
            stage(2, ch(128), 128, 3, True),
            Conv(ch(128), ch(256), 3, 2),  # 3  P3/8
            stage(4, ch(256), 256, 6, True),
            SCDown(ch(256), ch(512)),  # 5  P4/16
            stage(6, ch(512), 512, 6, True),
            SCDown(ch(512), ch(1024)),  # 7  P5/32
            stage(8, ch(1024), 1024, 3, True),
            SPPF(ch(1024), ch(1024)),  # 9
            PSA(ch(1024)),  # 10
            # neck: top-down
            nn.Upsample(scale_factor=2.0, mode="nearest"),  # 11
            Concat(),  # 12  + P4 (layer 6)
            stage(13, ch(1024) + ch(512), 512, 3, False),
            nn.Upsample(scale_factor=2.0, mode="nearest"),  # 14
            Concat(),  # 15  + P3 (layer 4)
            stage(16, ch(512) + ch(256), 256, 3, False),  # 16  P3 out
            # neck: bottom-up
            Conv(ch(256), ch(256), 3, 2),  # 17
            Concat(),  # 18  + layer 13
            stage(19, ch(256) + ch(512), 512, 3, False),  # 19  P4 out
            SCDown(ch(512), ch(512)),  # 20
            Concat(),  # 21  + P5 (layer 10)
            stage(22, ch(512) + ch(1024), 1024, 3, True),  # 22  P5 out
            V10Detect(nc, (ch(256), ch(512), ch(1024))),  # 23
        ]
        self.model = nn.ModuleList(layers)
        self.memory_format = torch.contiguous_format

    @property
    def scale(self) -> Scale:
        return SCALES[self.scale_name]

    def decoded(self, x: torch.Tensor) -> torch.Tensor:
        """The head's decoded prediction (B, 4 + nc, A), before top-k."""
        m = self.model
        x = m[1](m[0](x.contiguous(memory_format=self.memory_format)))
        p3 = m[4](m[3](m[2](x)))
        p4 = m[6](m[5](p3))
        p5 = m[10](m[9](m[8](m[7](p4))))
        top_down_p4 = m[13](m[12]([m[11](p5), p4]))
        out_p3 = m[16](m[15]([m[14](top_down_p4), p3]))
        out_p4 = m[19](m[18]([m[17](out_p3), top_down_p4]))
        out_p5 = m[22](m[21]([m[20](out_p4), p5]))
        return m[23]([out_p3, out_p4, out_p5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return postprocess(self.decoded(x), self.max_det)

    @torch.no_grad()
    def fuse(self, channels_last: bool = True) -> YOLOv10:
        """Fold every BatchNorm into its conv and RepVGGDW's 3×3 branch into the 7×7, SiLU in place: faster, not
        bit-exact.

        With `channels_last` the activations are kept NHWC, the layout oneDNN's CPU convolutions prefer:
        0.65–0.8× the NCHW latency measured here (README, "Performance"); the outputs are the same tensors.
        """
        for module in list(self.modules()):
            if isinstance(module, RepVGGDW):
                module.fuse()
        for module in list(self.modules()):
            if isinstance(module, Conv):
                module.fuse()
        # In place: every SiLU here consumes a fresh conv (or conv-sum) output that nothing else reads, so writing
        # over it saves an allocation and a pass over memory per activation (0.93 → 0.83 × ultralytics on m).
        for parent in list(self.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.SiLU):
                    setattr(parent, name, nn.SiLU(inplace=True))
        if channels_last:
            self.memory_format = torch.channels_last
            self.to(memory_format=torch.channels_last)
        return self.requires_grad_(False)

    def accelerated(self, example: torch.Tensor, cuda_graph: bool = True) -> nn.Module:
        """This model fused, on `example`'s device and dtype, in the layout measured fastest there, and on CUDA
        captured as a CUDA graph for `example`'s shape: the fast path for a detector (model/accelerate.py)."""
        from yolo10port.model.accelerate import accelerate

        if not self.is_fused:
            self.fuse()
        return accelerate(self, example, cuda_graph)

    @property
    def is_fused(self) -> bool:
        return not any(isinstance(m, nn.BatchNorm2d) for m in self.modules())

    @classmethod
    def from_file(cls, path: str | Path, scale: str | None = None, nc: int | None = None) -> YOLOv10:
        """Build and load from a yolo10port .safetensors export or an ultralytics .pt (read safely).

        `scale` and `nc` default to what the weights say; give them to insist (a mismatch raises LoadError).
        """
        from yolo10port.model.loading import load_file  # the readers are imported only when a file is read

        return load_file(path, scale=scale, nc=nc)
