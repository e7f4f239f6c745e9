"""Write one dump: the input, then each hooked module's output as produced, then the metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from yolo10port.atomic import write_text_atomic
from yolo10port.dumps.capture import Recorder
from yolo10port.dumps.inputs import ModelInput
from yolo10port.dumps.summary import SummaryBuilder
from yolo10port.dumps.writer import StreamingSafetensorsWriter
from yolo10port.weights.reader import DUMP_FORMAT


def parse_depth(depth: str | int) -> int | None:
    """`1` = the 24 top-level layers; `2`, `3`… go deeper; `all` = every module (None)."""
    if str(depth) == "all":
        return None
    if not str(depth).isdigit() or int(depth) < 1:
        from yolo10port.errors import InputError

        raise InputError("--depth", f"{depth!r} is not a positive integer or 'all'")
    return int(depth)


def stream_dump(
    out: str | Path,
    model_input: ModelInput,
    forward: Callable[[Recorder], None],
    metadata: dict[str, str],
    summary_path: str | Path | None = None,
) -> Path:
    """Run `forward(recorder)` and stream everything it records to `out` (atomic: no partial file on failure)."""
    writer = StreamingSafetensorsWriter(out)
    summary = SummaryBuilder() if summary_path else None

    def sink(key: str, tensor: torch.Tensor) -> None:
        writer.add(key, tensor)
        if summary:
            summary.add(key, tensor)

    try:
        recorder = Recorder(sink)
        recorder.record("input", model_input.tensor, "input")
        forward(recorder)
        full = {
            **metadata,
            "format": DUMP_FORMAT,
            "input": model_input.spec,
            "dtype": str(model_input.tensor.dtype).removeprefix("torch."),
            "order": json.dumps(writer.order),
            "module_types": json.dumps(recorder.module_types, sort_keys=True),
        }
        path = writer.close(full)
    except BaseException:
        writer.abort()
        raise
    if summary:
        write_text_atomic(summary_path, summary.to_json(full))
    return path
