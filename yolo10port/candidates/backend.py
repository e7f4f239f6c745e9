"""One interface for the runtimes a candidate runs on (learned from Polygraphy's `backend/` runners).

A runtime backend loads a model file once, then runs it asking for any of its intermediate values by name (what a
dump needs), can feed a value other than the model's input when the runtime allows it (what isolated error needs:
a module run alone on the reference's recorded inputs), and describes the precision and options it ran with (what
the dump's metadata records, so a reader knows what was judged). The candidate on top maps names to module paths;
the comparison never knows which backend ran.

One module per runtime: ONNX Runtime and OpenVINO run ONNX graphs for the graph candidate (candidates/graph.py) and
are registered in GRAPH_RUNTIMES below (candidates/onnxruntime_backend.py, candidates/openvino_backend.py); ncnn and
LiteRT run their own formats and hold their candidate beside their backend (candidates/ncnn.py,
candidates/litert.py). Adding a runtime is one new module, and for a graph runtime one line in GRAPH_RUNTIMES.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

import numpy as np

# Runtimes that run an ONNX graph: --runtime name → (what reports call it, module, class). Imported on first use, so
# `--help` and the light install never load a runtime.
GRAPH_BACKENDS: dict[str, tuple[str, str, str]] = {
    "onnxruntime": ("ONNX Runtime", "yolo10port.candidates.onnxruntime_backend", "OnnxRuntime"),
    "openvino": ("OpenVINO", "yolo10port.candidates.openvino_backend", "OpenVino"),
}
GRAPH_RUNTIMES = {name: label for name, (label, _, _) in GRAPH_BACKENDS.items()}
Session = Callable[[dict[str, np.ndarray]], list[np.ndarray]]  # a graph backend's session: inputs by name → outputs


def runtime_threads() -> int:
    """--threads, else OMP_NUM_THREADS, else the cores this process may use (yolo10port/threads.py)."""
    from yolo10port.threads import thread_count

    return thread_count()


class Backend(Protocol):
    name: str  # the --runtime value: ncnn | litert | …
    version: str

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """Run on `feeds` (value name → array, in the runtime's own layout) and return the named `outputs`."""

    @property
    def can_feed_intermediates(self) -> bool:
        """Whether `run` accepts a feed on an intermediate value, computing only what lies downstream of it."""

    def metadata(self) -> dict[str, str]:
        """What a dump records about this run: `runtime`, `precision`, `kernels` and the runtime's own options."""


def parse_options(pairs: list[str] | tuple[str, ...], known: dict[str, type], runtime: str) -> dict[str, object]:
    """`KEY=VALUE` strings (--runtime-option) checked against a runtime's known options, values typed: exit 2 on an
    unknown key or a value of the wrong kind, naming the option."""
    from yolo10port.errors import InputError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise InputError("--runtime-option", f"{pair!r}: {runtime} knows {', '.join(sorted(known))} (as KEY=VALUE)")
        kind = known[key]
        if kind is bool:
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0", "on", "off"):
                raise InputError("--runtime-option", f"{pair!r}: {key} takes true or false")
            options[key] = lowered in ("true", "1", "on")
        else:
            try:
                options[key] = kind(value)
            except ValueError:
                raise InputError("--runtime-option", f"{pair!r}: {key} takes a {kind.__name__}") from None
    return options


def graph_runtime(runtime: str, device: str, precision: str = "float32"):
    """The graph backend `runtime` names, set up to run on `device` in `precision` (each backend says what it
    accepts; OpenVINO turns it into its precision hint)."""
    from yolo10port.errors import InputError

    if runtime not in GRAPH_BACKENDS:
        raise InputError("--runtime", f"{runtime!r} is not one of {', '.join(GRAPH_BACKENDS)}")
    _, module, name = GRAPH_BACKENDS[runtime]
    return getattr(importlib.import_module(module), name).for_run(device, precision)
