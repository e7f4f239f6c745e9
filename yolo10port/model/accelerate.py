"""Make the fused clean model fast on a GPU: the right memory layout, cuDNN autotuning, and a CUDA graph.

At batch 1 a YOLOv10 forward on a modern GPU is bound by kernel launches (~5 ms even for n), not arithmetic. A CUDA
graph records the whole forward once and replays it with one launch; the replay runs the very same kernels on the
very same buffers, so its outputs are those of the eager model (tests/test_gpu.py compares them bit for bit).

Only torch here (DESIGN: yolo10port/model/ imports torch and the standard library only).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn


def _median_ms(run: Callable[[], object], device: torch.device, repeat: int = 10, warmup: int = 3) -> float:
    times = []
    for i in range(warmup + repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1000


@torch.inference_mode()
def fastest_layout(model: nn.Module, example: torch.Tensor) -> torch.memory_format:
    """Time the fused model in NCHW and in NHWC (channels_last) on `example`'s device, dtype and shape; keep the
    faster. On the CPU the answer is known (oneDNN prefers NHWC: README, "Performance"), so it is not timed."""
    if example.device.type != "cuda":
        return torch.channels_last
    timings = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        model.to(memory_format=layout)
        model.memory_format = layout
        timings[layout] = _median_ms(lambda: model(example), example.device)
    return min(timings, key=timings.get)


class CUDAGraphModel(nn.Module):
    """A model captured as a CUDA graph for one input shape and dtype; calling it replays the graph.

    The input is copied into a static buffer (the graph reads from fixed addresses), and the output is cloned out
    of the graph's static output so that the next replay cannot overwrite what the caller holds.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor, forward: Callable | None = None):
        super().__init__()
        if example.device.type != "cuda":
            raise ValueError("a CUDA graph needs a CUDA input")
        self.model = model
        self.run = forward or model
        self.static_input = example.clone()
        stream = torch.cuda.Stream(example.device)
        stream.wait_stream(torch.cuda.current_stream(example.device))
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):  # warm up on a side stream: cuDNN picks its algorithms before capture
                self.run(self.static_input)
        torch.cuda.current_stream(example.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.static_output = self.run(self.static_input)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape != self.static_input.shape or x.dtype != self.static_input.dtype:
            raise ValueError(
                f"captured for {tuple(self.static_input.shape)} {self.static_input.dtype}, "
                f"called with {tuple(x.shape)} {x.dtype}"
            )
        self.static_input.copy_(x)
        self.graph.replay()
        return self.static_output.clone()


def accelerate(
    model: nn.Module, example: torch.Tensor, cuda_graph: bool = True, forward: Callable | None = None
) -> nn.Module:
    """The fastest way found here to run a fused YOLOv10 on `example`'s device, shape and dtype: cuDNN autotuning
    on, the faster layout, and on CUDA a captured graph. Outputs equal the eager model's on that device."""
    model = model.to(device=example.device, dtype=example.dtype).eval()
    if example.device.type != "cuda":
        return model
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN time its algorithms once
    layout = fastest_layout(model, example)
    model.to(memory_format=layout)
    model.memory_format = layout
    return CUDAGraphModel(model, example, forward) if cuda_graph else model
