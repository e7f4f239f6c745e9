"""Isolated error of the clean model: each of its modules fed the *reference's* recorded inputs.

Chained error (what the diff of two end-to-end dumps shows) answers "where does the error show up?"; isolated error
answers "which module is wrong?". A module with high isolated error is a bug; high chained but low isolated error
is error inherited from earlier layers and amplified. Needs a reference dump made with inputs recorded
(`dump --with-inputs`, which `check` does). Each isolated error is judged against the same row's limit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from yolo10port.compare.engine import LayerRow, Report
from yolo10port.compare.metrics import tensor_error
from yolo10port.dumps.keys import INPUT_MARK, rows_of
from yolo10port.dumps.reader import DumpReader


def split_call(name: str) -> tuple[str, str]:
    """`model.9.m#2` → (`model.9.m`, `#2`): the module path and which call of it."""
    path, mark, call = name.partition("#")
    return path, mark + call


def recorded_input(reader: DumpReader, name: str) -> np.ndarray | list[np.ndarray] | None:
    """The reference's input to `name`: one tensor, or the list a Concat or the head received; None if absent."""
    path, call = split_call(name)
    base = f"{path}{INPUT_MARK}{call}"
    if base in reader:
        return reader.get(base)
    parts = []
    while f"{base}/{len(parts)}" in reader:
        parts.append(reader.get(f"{base}/{len(parts)}"))
    return parts or None


def fill_isolated(row: LayerRow, ref: np.ndarray, output: np.ndarray) -> None:
    """Set a row's isolated columns from its module's own output, judged against the row's limit."""
    error = tensor_error(ref, output)
    row.isolated_max_abs, row.isolated_max_rel = error.max_abs, error.max_rel
    finite = not (error.nonfinite_cand or error.nonfinite_ref)
    within = row.limit is not None and error.max_abs <= row.limit
    if row.mean_limit is not None:
        within = within and error.mean_abs <= row.mean_limit
    row.isolated_passed = finite and within


def fill_key(rows: dict[str, LayerRow], key: str, reference_output: np.ndarray, output: np.ndarray) -> int:
    """Fill the isolated columns of `key`'s rows (the decoded head has two) from a module's own output; an output
    of another shape is a failure of the module alone. Returns how many rows were filled."""
    filled = 0
    if output.shape != reference_output.shape:
        for name, _ in rows_of(key, reference_output):
            if name in rows:
                rows[name].isolated_passed = False
                filled += 1
        return filled
    for (name, ref_part), (_, out_part) in zip(rows_of(key, reference_output), rows_of(key, output)):
        if name in rows:
            fill_isolated(rows[name], ref_part, out_part)
            filled += 1
    return filled


def attach_isolated(report: Report, reference: str | Path, model: nn.Module) -> int:
    """Fill each row's isolated columns where the reference recorded the module's input; returns how many."""
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    device = parameter.device if parameter is not None else torch.device("cpu")
    rows = {row.name: row for row in report.layers}
    keys = dict.fromkeys(
        row.name.split("/")[0] for row in report.layers if row.shape is not None and row.rule != "input"
    )
    filled = 0
    with DumpReader(reference) as reader, torch.inference_mode():
        for key in keys:
            path, _ = split_call(key)
            try:
                module = model.get_submodule(path)
            except AttributeError:  # e.g. a BatchNorm that fusion removed
                continue
            inputs = recorded_input(reader, key)
            if inputs is None or key not in reader:
                continue
            as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)  # noqa: E731
            output = module([as_tensor(a) for a in inputs] if isinstance(inputs, list) else as_tensor(inputs))
            if not isinstance(output, torch.Tensor):
                continue
            filled += fill_key(rows, key, reader.get(key), output.detach().to("cpu", torch.float64).numpy())
    report.isolated = filled > 0
    return filled
