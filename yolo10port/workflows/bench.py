"""`yolo10port bench`: forward latency of ultralytics vs the clean model, the `check` breakdown, dump/diff memory.

Everything runs in this one process except what must be measured alone: import time and peak RSS are taken from
fresh child processes, each reporting its own high-water mark.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from yolo10port.reference.fixture import cached_fixture

BASELINE = "ultralytics fused"


@dataclass
class LatencyRow:
    """One configuration's median latencies, every column measured in the same run, interleaved."""

    scale: str
    device: str
    batch: int
    dtype: str
    ms: dict[str, float]  # column → median milliseconds per forward
    compile_s: float | None = None

    @property
    def ratios(self) -> dict[str, float]:
        """Each column ÷ ultralytics fused: below 1 means faster than ultralytics."""
        return {name: value / self.ms[BASELINE] for name, value in self.ms.items()}


@dataclass
class MemoryFigures:
    scale: str
    dump_depth_all_peak_rss_mb: float
    dump_keys: int
    dump_size_mb: float
    diff_peak_rss_mb: float
    baseline_rss_mb: float  # a fresh interpreter that imported torch and ultralytics and did nothing
    forward_rss_mb: float  # the same, plus building the reference network and one plain forward (no hooks)
    dump_depth_1_peak_rss_mb: float
    weights_mb: float  # the model's float32 parameters and buffers
    largest_output_mb: float


@dataclass
class BenchResult:
    machine: dict
    imgsz: int
    repeat: int
    latency: list[LatencyRow] = field(default_factory=list)
    check_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    memory: MemoryFigures | None = None
    contention: dict | None = None  # the CPU probe (workflows/contention.py); ratios are withheld when contended

    def to_json(self) -> str:
        data = asdict(self)
        withheld = bool(self.contention and self.contention["contended"])
        for row, latency in zip(data["latency"], self.latency):
            row["ratios"] = None if withheld else latency.ratios
        return json.dumps(data, indent=1) + "\n"


def machine_description(device: str = "cpu") -> dict:
    from yolo10port.dumps.device import cpu_name

    machine = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if device != "cpu":
        machine |= {"gpu": torch.cuda.get_device_name(torch.device(device)), "cuda": torch.version.cuda}
    return machine


def interleaved_latency_ms(
    forwards: dict[str, Callable[[], object]], repeat: int, warmup: int = 2, device: str = "cpu"
) -> dict[str, float]:
    """Median latency of each forward, timed in rounds (one run of each per round) so that a noisy neighbour or
    a clock change hits all of them alike instead of whichever happened to run then. CUDA work is asynchronous:
    each timing waits for the device."""
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    times: dict[str, list[float]] = {name: [] for name in forwards}
    with torch.inference_mode():
        for _ in range(warmup):
            for forward in forwards.values():
                forward()
        for _ in range(repeat):
            for name, forward in forwards.items():
                sync()
                start = time.perf_counter()
                forward()
                sync()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def _graph_forwards(weights, folder: Path, imgsz: int, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """ONNX Runtime and OpenVINO running the model's ONNX export (ultralytics' exporter settings, nms=False)."""
    from yolo10port.candidates.graph import open_session
    from yolo10port.reference.onnx_export import export_onnx

    graph = folder / f"{weights.path.stem}-{imgsz}.onnx"
    if not graph.exists():
        export_onnx(weights, graph, imgsz=imgsz)
    images = x.numpy()
    forwards = {}
    for runtime in ("onnxruntime", "openvino"):
        run = open_session(graph, runtime)
        forwards[runtime] = lambda run=run: run(images)
    return forwards


LITERT_FOLDER = Path("build/litert")  # where `make litert-export` writes yolov10{scale}-{imgsz}.tflite


def _ncnn_forward(weights, folder: Path, imgsz: int, x: torch.Tensor) -> Callable[[], object]:
    """ncnn with its default options (Winograd on: what a deployment runs) on `yolo10port ncnn`'s export, top-k on
    the host as in an ncnn dump: image in, detections out."""
    from yolo10port.candidates.ncnn import PARAM_NAME, NcnnCandidate
    from yolo10port.dumps.keys import DECODED_HEAD
    from yolo10port.model import postprocess
    from yolo10port.reference.ncnn_export import export_ncnn

    path = folder / f"{weights.path.stem}-{imgsz}_ncnn_model"
    if not (path / PARAM_NAME).exists():
        export_ncnn(weights, path, imgsz=imgsz)
    candidate = NcnnCandidate.open(path)
    nmap, runtime = candidate.nmap, candidate.runtime
    image, head, shape = x[0].numpy(), nmap.blobs[DECODED_HEAD], nmap.shapes[DECODED_HEAD]
    return lambda: postprocess(torch.from_numpy(runtime.run({nmap.input_blob: image}, [head])[0].reshape(shape)))


def _litert_forward(scale: str, imgsz: int, x: torch.Tensor) -> Callable[[], object] | None:
    """ai-edge-litert (XNNPACK) on `make litert-export`'s .tflite of this scale and size, when both exist (the
    export needs its own environment: README, "ncnn and LiteRT"); its top-k is in the model."""
    path = LITERT_FOLDER / f"yolov10{scale}-{imgsz}.tflite"
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        return None
    if not path.is_file():
        return None
    from yolo10port.candidates.litert import LiteRtRuntime

    runtime = LiteRtRuntime(path, keep_all=False)  # no intermediates kept: timed as deployed
    interpreter = runtime.interpreter
    name = interpreter.get_input_details()[0]["name"]
    output = interpreter.get_output_details()[0]["name"]
    images = x.numpy()
    return lambda: runtime.run({name: images}, [output])


def bench_latency(
    scale: str,
    fixtures: Path,
    imgsz: int,
    repeat: int,
    compile: bool = False,
    device: str = "cpu",
    batch: int = 1,
    dtype: str = "float32",
    graphs: bool = True,
) -> LatencyRow:
    """ultralytics fused against the clean model on one device, batch and dtype. On the CPU also the clean model
    unfused, the ONNX runtimes, ncnn and (where its export and runtime exist) LiteRT; on CUDA also the clean model
    as a CUDA graph (model/accelerate.py)."""
    from yolo10port.candidates.clean import load_clean_model
    from yolo10port.dumps.device import TORCH_DTYPES, numerics, torch_device
    from yolo10port.reference.network import reference_network
    from yolo10port.weights.reader import read_weights

    target = torch_device(device)
    torch_dtype = TORCH_DTYPES[dtype]
    path = cached_fixture(scale, fixtures)
    weights = read_weights(path)
    x = torch.ones(batch, 3, imgsz, imgsz, device=target, dtype=torch_dtype)
    reference = reference_network(weights, fuse=True).to(target, torch_dtype)  # one-to-one head pinned
    fused, _ = load_clean_model(weights, fuse=True)
    fused.to(target, torch_dtype)
    forwards: dict[str, Callable[[], object]] = {BASELINE: lambda: reference(x), "clean fused": lambda: fused(x)}
    with numerics(target, tf32=False):  # float32 means float32: TF32 off, as the parity figures are taken
        if target.type == "cpu":
            unfused, _ = load_clean_model(weights)
            forwards["clean unfused"] = lambda: unfused(x)
            if graphs and dtype == "float32":
                forwards |= _graph_forwards(weights, fixtures, imgsz, x)
                if batch == 1:  # ncnn and LiteRT run one image per call
                    forwards["ncnn"] = _ncnn_forward(weights, fixtures, imgsz, x)
                    litert = _litert_forward(scale, imgsz, x)
                    if litert is not None:
                        forwards["litert"] = litert
        else:
            torch.backends.cudnn.benchmark = True
            fast, _ = load_clean_model(weights, fuse=True)
            graphed = fast.accelerated(x)
            forwards["clean fused + CUDA graph"] = lambda: graphed(x)
        ms = interleaved_latency_ms(forwards, repeat, device=device)
        row = LatencyRow(scale, device, batch, dtype, ms)
        if compile:
            compiled = torch.compile(fused)
            start = time.perf_counter()
            with torch.inference_mode():
                compiled(x)
            row.compile_s = time.perf_counter() - start
            row.ms["clean compiled"] = interleaved_latency_ms({"c": lambda: compiled(x)}, repeat, device=device)["c"]
    return row


def bench_check(scale: str, fixtures: Path) -> dict[str, float]:
    """Wall-time breakdown of `check`: imports (in a fresh interpreter), then each step of run_check."""
    from yolo10port.workflows.check import run_check

    code = "import time; t = time.perf_counter(); import yolo10port.workflows.check; print(time.perf_counter() - t)"
    imports = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    result = run_check(cached_fixture(scale, fixtures))
    return {"imports": imports, **result.seconds}


# Run in the child: its own high-water mark (VmHWM, this process's memory only). ru_maxrss from wait4 would not do:
# Linux carries the parent's peak across fork+exec, so every child of a 1 GB bench process "peaks" at 1 GB.
_HWM_RUNNER = """
import atexit, runpy, sys
out = sys.argv[1]
def report():
    status = open('/proc/self/status').read()
    open(out, 'w').write(status.split('VmHWM:')[1].split()[0])
atexit.register(report)
target = sys.argv[2]
sys.argv = sys.argv[2:]
if target == '-m':
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
else:
    exec(target)
"""


def peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory (MB) of `python -m module …` or `python -c code` run alone in a child (Linux)."""
    with tempfile.NamedTemporaryFile("r", suffix=".hwm") as hwm:
        command = [sys.executable, "-c", _HWM_RUNNER, hwm.name, *args]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-500:]}")
        return int(hwm.read()) / 1024


_FORWARD_ONLY = """
import torch
from yolo10port.reference.network import reference_network
from yolo10port.weights.reader import read_weights
weights = read_weights({path!r})
model = reference_network(weights)
weights.state_dict = {{}}
with torch.inference_mode():
    model(torch.ones(1, 3, 640, 640))
"""


def bench_memory(scale: str, fixtures: Path) -> MemoryFigures:
    from yolo10port.candidates.clean import load_clean_model
    from yolo10port.dumps.reader import DumpReader

    path = cached_fixture(scale, fixtures)
    cli = ["-m", "yolo10port.cli"]
    model, _ = load_clean_model(path)
    weights_mb = sum(t.numel() * 4 for t in [*model.parameters(), *model.buffers()]) / 2**20
    del model
    with tempfile.TemporaryDirectory(prefix="yolo10port-bench-", dir=fixtures) as scratch:
        a, b = Path(scratch) / "a.safetensors", Path(scratch) / "b.safetensors"
        dump_rss = peak_rss_mb([*cli, "dump", str(path), "--depth", "all", "-o", str(a)])
        peak_rss_mb([*cli, "dump", str(path), "--depth", "all", "-o", str(b)])
        diff_rss = peak_rss_mb([*cli, "diff", str(a), str(b), "--format", "json", "-o", str(Path(scratch) / "r.json")])
        with DumpReader(a) as reader:
            sizes = [reader.nbytes(key) for key in reader.keys()]
        baseline = peak_rss_mb(["import torch, ultralytics"])
        forward = peak_rss_mb([_FORWARD_ONLY.format(path=str(path))])
        depth_1 = peak_rss_mb([*cli, "dump", str(path), "-o", str(Path(scratch) / "d1.safetensors")])
        return MemoryFigures(
            scale=scale,
            dump_depth_all_peak_rss_mb=dump_rss,
            dump_keys=len(sizes),
            dump_size_mb=a.stat().st_size / 2**20,
            diff_peak_rss_mb=diff_rss,
            baseline_rss_mb=baseline,
            forward_rss_mb=forward,
            dump_depth_1_peak_rss_mb=depth_1,
            weights_mb=weights_mb,
            largest_output_mb=max(sizes) / 2**20,
        )


def run_bench(
    scales: list[str],
    imgsz: int = 640,
    repeat: int = 15,
    fixtures: Path = Path("build/fixtures"),
    check_scales: list[str] = (),
    memory_scale: str | None = None,
    compile: bool = False,
    progress: Callable[[str], None] = lambda _step: None,
    device: str = "cpu",
    graphs: bool = True,
) -> BenchResult:
    """On the CPU: batch 1, float32. On CUDA: batch 1 and 32, float32 and float16 (TF32 off)."""
    fixtures.mkdir(parents=True, exist_ok=True)
    result = BenchResult(machine_description(device), imgsz, repeat)
    if device == "cpu":
        from yolo10port.threads import thread_count
        from yolo10port.workflows.contention import probe

        progress("probing the CPU for other busy processes")
        result.contention = probe(thread_count()).to_dict()
    configs = (
        [(1, "float32")] if device == "cpu" else [(1, "float32"), (1, "float16"), (32, "float32"), (32, "float16")]
    )
    for scale in scales:
        for batch, dtype in configs:
            progress(f"YOLOv10-{scale}: latency, batch {batch}, {dtype}")
            row = bench_latency(scale, fixtures, imgsz, repeat, compile, device, batch, dtype, graphs)
            result.latency.append(row)
    for scale in check_scales:
        progress(f"YOLOv10-{scale}: check breakdown")
        result.check_seconds[scale] = bench_check(scale, fixtures)
    if memory_scale:
        progress(f"YOLOv10-{memory_scale}: dump --depth all and diff, peak RSS")
        result.memory = bench_memory(memory_scale, fixtures)
    return result
