"""Is this CPU shared right now? A quick probe `bench` runs first, so that it warns instead of printing latency
ratios that a busy neighbour made up.

Two signs, either enough: the 1-minute load average exceeds the cores this process may use; or the same
convolution run with all our threads is barely faster than with one (on a quiet machine N threads run it ~N×
faster; with a neighbour, torch's threads wait on each other at every barrier and lose that — on 2 shared cores
torch's latency rose up to 25× while single-threaded runs barely moved).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass

# N threads must run the probe at least this much faster than one thread, per extra thread (2 threads: 1.35×);
# a quiet 2-core machine measures ~1.8×.
MIN_GAIN_PER_THREAD = 0.35


@dataclass
class Contention:
    threads: int
    cores: int
    load: float  # 1-minute load average of the machine
    one_thread_ms: float
    all_threads_ms: float

    @property
    def speedup(self) -> float:
        return self.one_thread_ms / self.all_threads_ms if self.all_threads_ms > 0 else 0.0

    @property
    def contended(self) -> bool:
        slow_threads = self.threads > 1 and self.speedup < 1 + MIN_GAIN_PER_THREAD * (self.threads - 1)
        return self.load > self.cores + 0.5 or slow_threads

    def describe(self) -> str:
        gain = f"; {self.threads} threads ran the probe {self.speedup:.2f}× faster than 1" if self.threads > 1 else ""
        return f"load average {self.load:.1f} on {self.cores} cores{gain}"

    def to_dict(self) -> dict:
        return {**asdict(self), "speedup": self.speedup, "contended": self.contended}


def _median_ms(run, repeat: int = 7) -> float:
    run()  # warm-up: the thread pool, the kernel choice
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def probe(threads: int) -> Contention:
    """About a second: one 3×3 convolution, timed with one thread and with `threads`."""
    import torch

    from yolo10port.threads import available

    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(1, 64, 96, 96, generator=torch.Generator().manual_seed(0))
    before = torch.get_num_threads()
    try:
        with torch.inference_mode():
            torch.set_num_threads(1)
            one = _median_ms(lambda: conv(x))
            torch.set_num_threads(threads)
            many = _median_ms(lambda: conv(x))
    finally:
        torch.set_num_threads(before)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return Contention(threads, available(), load, one, many)
