"""Forward hooks that stream every hooked module's output to a dump, keyed by module path.

The same code hooks the ultralytics network and the clean model: their module paths are equal, so the keys are.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from yolo10port.dumps.keys import INPUT_MARK


def module_depth(path: str) -> int:
    """`model.10` → 1, `model.10.attn` → 2, `model.10.attn.qkv` → 3."""
    return path.count(".")


def unshare_modules(root: nn.Module) -> None:
    """Give every path its own module instance (ultralytics shares one SiLU across all Convs).

    A hook on a shared instance fires for every caller under one path; copies make each path hook only itself.
    """
    seen: set[int] = set()
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in seen:
                setattr(parent, name, copy.deepcopy(child))
            seen.add(id(child))


def flatten_output(key: str, output: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """A tensor → one key; a tuple/list/dict → `key/<index-or-dict-key>` per element (nested likewise)."""
    if isinstance(output, torch.Tensor):
        yield key, output
    elif isinstance(output, (tuple, list)):
        for i, item in enumerate(output):
            yield from flatten_output(f"{key}/{i}", item)
    elif isinstance(output, dict):
        for name, item in output.items():
            yield from flatten_output(f"{key}/{name}", item)


class Recorder:
    """Receives (key, tensor, module type) in execution order; a module called twice gets `key#1`, `key#2`…"""

    def __init__(self, sink: Callable[[str, torch.Tensor], None]):
        self.sink = sink
        self.module_types: dict[str, str] = {}
        self._calls: dict[str, int] = {}

    def record(self, key: str, output: Any, module_type: str) -> None:
        calls = self._calls.get(key, 0)
        self._calls[key] = calls + 1
        base = key if calls == 0 else f"{key}#{calls}"
        for name, tensor in flatten_output(base, output):
            self.sink(name, tensor)
            self.module_types[name] = module_type


def select_modules(
    root: nn.Module, depth: int | None, skip: Callable[[str], bool] = lambda _: False, within: str | None = None
):
    """(path, module) for `model.*` modules down to `depth` (None = all depths), minus the skipped paths.

    `within="model.10"` keeps only that module and its descendants (for drilling into one layer).
    """
    for path, module in root.named_modules():
        if not path.startswith("model.") or skip(path):
            continue
        if within is not None and path != within and not path.startswith(within + "."):
            continue
        if depth is None or module_depth(path) <= depth:
            if isinstance(module, nn.ModuleList):  # never called itself; its members are
                continue
            yield path, module


@contextlib.contextmanager
def hooked(
    root: nn.Module,
    recorder: Recorder,
    depth: int | None,
    skip: Callable[[str], bool] = lambda _: False,
    with_inputs: bool = False,
    within: str | None = None,
) -> Iterator[None]:
    """Record every selected module's output (and, with `with_inputs`, its first argument) as it runs."""
    handles = []
    for path, module in select_modules(root, depth, skip, within):

        def hook(_module: nn.Module, _inputs: Any, output: Any, path: str = path) -> None:
            recorder.record(path, output, type(_module).__name__)

        def pre_hook(_module: nn.Module, inputs: Any, path: str = path) -> None:
            recorder.record(path + INPUT_MARK, inputs[0], type(_module).__name__)

        if with_inputs:
            handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
