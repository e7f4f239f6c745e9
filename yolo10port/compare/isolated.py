"""Isolated error: each candidate module fed the *reference's* recorded inputs, so inherited error is removed.

Chained error (what the diff of two end-to-end dumps shows) answers "where does the error show up?"; isolated error
answers "which module is wrong?". A module with high isolated error is a bug; high chained but low isolated error
is error inherited from earlier layers and amplified. Needs a reference dump made with inputs recorded and a
candidate that is a torch module with the same paths (the clean model); foreign dumps get chained error only.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from yolo10port.compare.engine import LayerRow, Report
from yolo10port.compare.metrics import tensor_error
from yolo10port.dumps.capture import INPUT_MARK
from yolo10port.dumps.reader import DumpReader


def split_call(name: str) -> tuple[str, str]:
    """`model.9.m#2` → (`model.9.m`, `#2`): the module path and which call of it."""
    path, mark, call = name.partition("#")
    return path, mark + call


def recorded_input(reader: DumpReader, keys: set[str], name: str):
    """The reference's input to `name`: one tensor, or the list a Concat or the head received; None if absent."""
    path, call = split_call(name)
    base = f"{path}{INPUT_MARK}{call}"
    if base in keys:
        return reader.get(base)
    parts = []
    while f"{base}/{len(parts)}" in keys:
        parts.append(reader.get(f"{base}/{len(parts)}"))
    return parts or None


def attach_isolated(report: Report, reference: str | Path, model: nn.Module) -> int:
    """Fill each row's isolated columns where the reference recorded the module's input; returns how many."""
    filled = 0
    dtype = next((p.dtype for p in model.parameters()), torch.float32)  # the reference's inputs are cast to it
    with DumpReader(reference) as reader, torch.inference_mode():
        keys = set(reader.keys())
        for row in report.layers:
            if "/" in row.name or row.shape is None:
                continue
            path, _ = split_call(row.name)
            try:
                module = model.get_submodule(path)
            except AttributeError:  # e.g. a BatchNorm that fusion removed
                continue
            inputs = recorded_input(reader, keys, row.name)
            if inputs is None:
                continue
            inputs = [t.to(dtype) for t in inputs] if isinstance(inputs, list) else inputs.to(dtype)
            output = module(inputs)
            if not isinstance(output, torch.Tensor):
                continue
            error = tensor_error(reader.get(row.name), output)
            _fill(row, error)
            filled += 1
    report.isolated = filled > 0
    return filled


def _fill(row: LayerRow, error) -> None:
    row.isolated_max_abs, row.isolated_max_rel = error.max_abs, error.max_rel
    limit = row.atol + row.rtol * error.ref_max_abs
    row.isolated_passed = not (error.nonfinite_cand or error.nonfinite_ref) and error.max_abs <= limit
