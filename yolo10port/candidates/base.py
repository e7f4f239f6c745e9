"""What every candidate is: a way to produce a dump of the port under test, from one run spec.

Like Polygraphy's runners, each candidate (the clean PyTorch model, ONNX Runtime, OpenVINO) sits in a module of its
own behind the same small interface, and compare/ never knows which one made a dump. Unlike them, every candidate
names its outputs by module path (`model.10.attn.qkv`), so one table lines up with the reference and the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from yolo10port.compare.engine import Report
from yolo10port.dumps.spec import RunSpec


class Candidate(Protocol):
    kind: str  # clean | onnxruntime | openvino
    label: str  # what the reports call it, e.g. "ONNX Runtime 1.32 on yolov10s.onnx"

    @property
    def fused(self) -> bool:
        """Whether its BatchNorms are folded: the reference a drill-down compares it with is built alike."""

    def dump(self, out: Path, spec: RunSpec) -> Path:
        """Run on `spec` and write a `yolo10port-dump/1` file keyed by module path."""

    def attach_isolated(self, report: Report, reference: Path) -> int:
        """Fill the rows' isolated columns by running each module alone on the reference's recorded inputs;
        return how many rows got one (0 when the candidate cannot run a module alone)."""
