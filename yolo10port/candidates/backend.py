"""One interface for the runtimes a candidate runs on (learned from Polygraphy's `backend/` runners).

A runtime backend loads a model file once, then runs it asking for any of its intermediate values by name (what a
dump needs), can feed a value other than the model's input when the runtime allows it (what isolated error needs:
a module run alone on the reference's recorded inputs), and describes the precision and options it ran with (what
the dump's metadata records, so a reader knows what was judged). The candidate on top maps names to module paths;
the comparison never knows which backend ran.

Today ncnn and LiteRT implement it (candidates/ncnn.py, candidates/litert.py); ONNX Runtime and OpenVINO still live
in candidates/graph.py and are to move behind it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


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
