"""Isolated error of the clean model: each of its modules fed the *reference's* recorded inputs.

Chained error (what the diff of two end-to-end dumps shows) answers "where does the error show up?"; isolated error
answers "which module is wrong?". A module with high isolated error is a bug; high chained but low isolated error
is error inherited from earlier layers and amplified. Needs a reference dump made with inputs recorded
(`dump --with-inputs`, which `check` does). Each isolated error is judged against the same row's limit; the
numpy-only helpers (and a foreign port's isolated dump) are in compare/isolated.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from yolo10port.compare.engine import Report
from yolo10port.compare.isolated import fill_isolated, fill_key, recorded_input, split_call  # noqa: F401  (re-exported)
from yolo10port.dumps.reader import DumpReader


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
