"""How many threads a model run may use (`--threads N`), one setting for torch, ONNX Runtime and OpenVINO.

Default: the cores this process may use (its affinity: a container's or taskset's share, not the machine's), or
OMP_NUM_THREADS when the caller set it. On a shared CI runner, torch's parallel regions busy-wait for threads
that a neighbour has descheduled: with one other busy process on 2 cores, its latency rose up to 25× (README,
"Performance"), while single-threaded runs barely moved. Set before torch is imported (the CLI parses options
first), so torch's own pool starts at that size; torch is also told directly if it is already loaded.
"""

from __future__ import annotations

import os
import sys

ENV = "YOLO10PORT_THREADS"


def available() -> int:
    """The cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_count() -> int:
    """The threads a run uses: --threads, else OMP_NUM_THREADS, else the cores this process may use."""
    for name in (ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available()


def use_threads(threads: int | None) -> int:
    """Make `threads` (None: the default) the count for every runtime this process starts; return it."""
    count = threads if threads is not None else thread_count()
    os.environ[ENV] = os.environ["OMP_NUM_THREADS"] = str(count)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
