"""GPU: `--device cuda` everywhere, TF32 on purpose, the CUDA-graph path. Marked `gpu`: skipped without CUDA (CI),
run on the GPU machine (README, "GPU"). The refusal without CUDA is tested on every machine."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import assert_input_error, run_cli
from yolo10port.compare import diff_dumps
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.workflows.check import run_check

HAS_CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
SCALES = ["n", "s", "m", "b", "l", "x"]


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["dump", "run", "check", "detect", "selftest", "bench"])
def test_cuda_without_cuda_is_one_line_and_no_file(command, make_fixture, tmp_path):
    model = make_fixture("n")
    out = tmp_path / "out.safetensors"
    args = {
        "dump": ["dump", model, "-o", out],
        "run": ["run", model, "-o", out],
        "check": ["check", model, "--workdir", tmp_path / "work"],
        "detect": ["detect", model, model.parent / "missing.png", "-o", tmp_path / "d.png"],
        "selftest": ["selftest", model],
        "bench": ["bench", "--scales", "n", "--check-scales", "", "--memory-scale", ""],
    }[command]
    result = run_cli(*args, "--device", "cuda", cwd=tmp_path)
    assert_input_error(result, "--device", "CUDA is not available")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("scale", SCALES)
def test_check_on_cuda_passes_with_tf32_off(scale, make_fixture):
    report = run_check(make_fixture(scale), spec=RunSpec(input="random:0", device="cuda")).report
    assert report.passed, report.first_failure
    assert report.candidate_meta["tf32_conv"] == "false" and report.candidate_meta["device"].startswith("cuda")


@pytest.mark.gpu
@gpu
def test_tf32_candidate_gets_the_precision_hint(make_fixture):
    spec = RunSpec(input="random:0", device="cuda", tf32=True)
    report = run_check(make_fixture("s"), spec=spec, precision="float32").report  # the TF32 floor: test_precision
    assert report.candidate_meta["tf32_conv"] == "true"
    if not report.passed:  # TF32 moves every layer by ~1e-3: the floor rule names it, it does not pass it silently
        assert "TF32" in report.hint


@pytest.mark.gpu
@gpu
def test_gpu_reference_matches_cpu_reference(make_fixture, tmp_path):
    model = make_fixture("n")
    cpu, cuda = tmp_path / "cpu.safetensors", tmp_path / "cuda.safetensors"
    dump_reference(model, cpu, RunSpec(input="random:0"))
    dump_reference(model, cuda, RunSpec(input="random:0", device="cuda"))
    report = diff_dumps(cpu, cuda)
    assert report.passed, report.first_failure


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_cuda_graph_replays_the_eager_model_bit_for_bit(dtype, make_fixture):
    from yolo10port.model import YOLOv10

    model = YOLOv10.from_file(make_fixture("s")).fuse(channels_last=False).to("cuda", dtype)
    x = torch.rand(1, 3, 640, 640, generator=torch.Generator().manual_seed(0)).to("cuda", dtype)
    with torch.inference_mode():
        eager = model(x)
    graphed = YOLOv10.from_file(make_fixture("s")).accelerated(x)
    assert torch.equal(graphed(x), graphed(x))
    if graphed.model.memory_format == torch.contiguous_format:  # same layout → same kernels → same bits
        assert torch.equal(graphed(x), eager)
    else:  # another layout picks other kernels: equal to float rounding, top-k the same boxes
        assert torch.allclose(graphed(x)[..., :5], eager[..., :5], rtol=1e-2, atol=1e-2)


@pytest.mark.gpu
@gpu
def test_bench_on_cuda_prints_ratios(tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli(
        "bench", "--device", "cuda", "--scales", "n", "--repeat", "5", "--check-scales", "", "--memory-scale", "",
        "--json", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["latency"]
    configs = {(batch, dtype) for batch in (1, 32) for dtype in ("float32", "float16")}
    assert {(r["batch"], r["dtype"]) for r in rows} == configs
    assert all("clean fused + CUDA graph" in r["ratios"] for r in rows)


def test_accelerated_on_the_cpu_is_the_fused_model(make_fixture):
    """Without CUDA the fast path is the fused model in channels_last (what oneDNN prefers); same outputs."""
    from yolo10port.model import YOLOv10

    x = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    fused = YOLOv10.from_file(make_fixture("n")).fuse()
    fast = YOLOv10.from_file(make_fixture("n")).accelerated(x)
    assert fast.is_fused and fast.memory_format == torch.channels_last
    with torch.inference_mode():
        assert torch.equal(fast(x), fused(x))
