"""Reduced precision judged by its own noise floor (README, "Reduced precision").

A reference dumped with `--floors` records, per row, how far float16 / bfloat16 / TF32 / Winograd arithmetic alone
moves it; a candidate is judged by the floor of the precision it declares. The float16 port here is written the
way a user would write one: a few lines of torch in float16 over the clean model, saved with safetensors alone.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import save_file
from torch import nn

from tests.conftest import run_cli
from yolo10port.dumps.reduced import WINOGRAD, emulate_tf32, round_to_tf32, winograd_conv2d

IMGSZ = 160


@pytest.fixture(scope="module")
def n_model(make_fixture):
    return make_fixture("n")


@pytest.fixture(scope="module")
def references(n_model, tmp_path_factory):
    """Reference dumps of the n fixture carrying float16 and Winograd floors, on random:0 and bus.jpg."""
    folder = tmp_path_factory.mktemp("precision")
    made = {}
    for name, given, floors in (("random", "random:0", "float16,winograd"), ("bus", "bus.jpg", "float16")):
        from yolo10port.workflows.selftest.run import bundled_image

        source = given if name == "random" else bundled_image(given)
        out = folder / f"{name}.safetensors"
        result = run_cli("dump", n_model, "--input", source, "--imgsz", IMGSZ, "--floors", floors, "-o", out)
        assert result.returncode == 0, result.stderr
        made[name] = out
    return made


def float16_port(weights, reference, out, bn_eps: float | None = None, declare: bool = True):
    """An honest float16 port: the clean model, BatchNorm folded, computing in float16; its own dump written with
    safetensors. `bn_eps` plants the classic porting bug (PyTorch's default 1e-5 instead of ultralytics' 1e-3)."""
    from yolo10port.candidates.clean import load_clean_model

    model, _ = load_clean_model(weights)
    if bn_eps is not None:
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps = bn_eps
    model = model.fuse().half().eval()
    with safe_open(reference, "np") as file:
        image, given = file.get_tensor("input"), file.metadata()["input"]
    outputs = {"input": image.astype(np.float16)}
    for index, layer in enumerate(model.model[:23]):
        layer.register_forward_hook(lambda _m, _i, out, k=f"model.{index}": outputs.__setitem__(k, out.float().numpy()))
    with torch.inference_mode():
        outputs["model.23"] = model.decoded(torch.from_numpy(image).half()).float().numpy()
    metadata = {"format": "yolo10port-dump/1", "input": given, "producer": "a float16 test port"}
    if declare:
        metadata["precision"] = "float16"
    save_file({k: np.ascontiguousarray(v) for k, v in outputs.items()}, str(out), metadata=metadata)
    return out


def only_comparison(stdout: str) -> dict | None:
    """The one comparison of a report (yolo10port-report/1) of one pair of dumps, or of one `check`."""
    return json.loads(stdout)["comparisons"][0] if stdout.strip() else None


def diff_json(*args):
    result = run_cli("diff", *args, "--format", "json")
    return result.returncode, only_comparison(result.stdout), result.stderr


@pytest.mark.parametrize("which", ["random", "bus"])
def test_honest_float16_port_passes_by_its_floor_and_a_bn_eps_bug_fails_at_model_0(
    which, n_model, references, tmp_path
):
    reference = references[which]
    honest = float16_port(n_model, reference, tmp_path / "fp16.safetensors")
    code, report, stderr = diff_json(reference, honest)
    assert code == 0, (report["first_failure"], stderr)
    assert report["tolerance"]["precision"] == "float16"
    assert any("declares float16" in note for note in report["notes"])
    assert next(r for r in report["layers"] if r["name"] == "input")["pass"]  # its input rounded to float16

    buggy = float16_port(n_model, reference, tmp_path / "fp16-eps.safetensors", bn_eps=1e-5)
    code, report, _ = diff_json(reference, buggy)
    assert code == 1 and report["first_failure"] == "model.0"

    # Declaring nothing, the same honest port is judged by the float32 floor: it fails, and the hint names the
    # option that judges it by what it computes in.
    silent = float16_port(n_model, reference, tmp_path / "fp16-silent.safetensors", declare=False)
    code, report, _ = diff_json(reference, silent)
    assert code == 1 and "--precision float16" in report["hint"]
    code, report, _ = diff_json(reference, silent, "--precision", "float16")
    assert code == 0 and report["tolerance"]["precision"] == "float16"


def test_asking_for_a_floor_the_reference_lacks_exits_2(references, tmp_path, n_model):
    honest = float16_port(n_model, references["bus"], tmp_path / "fp16.safetensors")
    result = run_cli("diff", references["bus"], honest, "--precision", "bfloat16")
    assert result.returncode == 2 and "carries no bfloat16 floor" in result.stderr
    assert "--floors bfloat16" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("diff", references["bus"], honest, "--precision", "float8")
    assert result.returncode == 2 and "--precision" in result.stderr


def test_winograd_is_a_convolution_and_amplifies_float32_rounding():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 29, 31, generator=generator, dtype=torch.float64)
    w = torch.randn(8, 16, 3, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(8, generator=generator, dtype=torch.float64)
    exact = F.conv2d(x, w, b, padding=1)
    for kind in WINOGRAD.values():
        assert (winograd_conv2d(x, w, b, 1, kind) - exact).abs().max() < 1e-10  # the right transform
    direct32 = (F.conv2d(x.float(), w.float(), b.float(), padding=1).double() - exact).abs().max()
    winograd32 = (winograd_conv2d(x.float(), w.float(), b.float(), 1, WINOGRAD["F(6,3)"]).double() - exact).abs().max()
    assert winograd32 > 2 * direct32  # a fast kernel: float32, with several times its rounding


def test_tf32_emulation_rounds_operands_to_ten_mantissa_bits():
    values = torch.tensor([1 + 2**-11, 1 + 2**-10 + 2**-11, 3.14159265])
    assert round_to_tf32(values).tolist() == [1.0, 1 + 2**-9, 3.140625]  # ties to even
    x, w = torch.rand(1, 8, 12, 12), torch.randn(4, 8, 3, 3)
    with emulate_tf32():
        emulated = F.conv2d(x, w)
    assert torch.equal(emulated, F.conv2d(round_to_tf32(x), round_to_tf32(w)))
    relative = ((emulated - F.conv2d(x, w)).abs().max() / F.conv2d(x, w).abs().max()).item()
    assert 1e-5 < relative < 5e-3  # TF32's size of error, hundreds of times float32's


def test_a_winograd_candidate_is_judged_by_the_winograd_floor(n_model, references, tmp_path):
    reference = references["random"]
    out = tmp_path / "winograd.safetensors"
    result = run_cli("run", n_model, "--fuse", "--precision", "winograd", "--input", reference, "-o", out)
    assert result.returncode == 0, result.stderr
    with safe_open(out, "np") as file:
        assert file.metadata()["precision"] == "winograd"
    code, report, stderr = diff_json(reference, out)
    assert code == 0, (report and report["first_failure"], stderr)
    assert report["tolerance"]["precision"] == "winograd"
    # Judged as plain float32 it exceeds the float32 floor somewhere; the hint then recognises the signature.
    code, report, _ = diff_json(reference, out, "--precision", "float32")
    multiples = [r["floor_multiple"] for r in report["layers"] if r.get("floor_multiple") is not None]
    assert max(multiples) > 2.0  # the Winograd error is several float32 floors
    if code == 1:
        assert "--precision winograd" in report["hint"]


def test_openvino_records_the_precision_it_compiled_to_and_is_judged_by_it(n_model, tmp_path):
    import openvino

    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    work = tmp_path / "ov"
    result = run_cli(
        "check", n_model, "--candidate", "openvino", "--precision", "bfloat16", "--input", "random:0",
        "--imgsz", IMGSZ, "--workdir", work, "--format", "json",
    )  # fmt: skip
    report = only_comparison(result.stdout)
    with safe_open(next(work.glob("*.candidate.safetensors")), "np") as file:
        meta = file.metadata()
    assert meta["inference_precision_hint"] == "bf16"
    if "BF16" in capabilities:
        assert meta["precision"] == "bfloat16" and report["tolerance"]["precision"] == "bfloat16"
    else:  # this CPU cannot: OpenVINO compiles f32, the dump says so, and f32's floor judges it
        assert meta["inference_precision"] == "f32" and meta["precision"] == "float32"
        assert report["tolerance"]["precision"] == "float32"
        assert any("asked to compute in bfloat16" in note for note in report["notes"])
        assert result.returncode == 0, report["first_failure"]


def test_openvino_compiling_f16_to_bf16_is_judged_by_the_bf16_floor(n_model, tmp_path):
    """A CPU with bf16 but no f16 compiles OpenVINO's f16 hint to bf16, which is only known once compiled: the
    reference gets the bf16 floor then (it was a float32-floor false alarm from model.0 on such a CPU)."""
    import openvino

    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    result = run_cli(
        "check", n_model, "--candidate", "openvino", "--precision", "float16", "--input", "random:0",
        "--imgsz", IMGSZ, "--workdir", tmp_path / "ov", "--format", "json",
    )  # fmt: skip
    report = only_comparison(result.stdout)
    compiled = {"FP16": "float16", "BF16": "bfloat16"}
    expected = next((compiled[c] for c in ("FP16", "BF16") if c in capabilities), "float32")
    assert report["tolerance"]["precision"] == expected, (capabilities, report["notes"])
    assert result.returncode == 0, report["first_failure"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_real_tf32_stays_within_the_emulated_tf32_floor(n_model):
    """What the CPU emulation of TF32 claims, checked on a GPU: cuDNN/cuBLAS with TF32 on, judged by the reference's
    emulated TF32 floor, must pass (and fail the float32 floor)."""
    from yolo10port.dumps.spec import RunSpec
    from yolo10port.workflows.check import run_check

    spec = RunSpec(input="random:0", imgsz=320, device="cuda", tf32=True)
    report = run_check(n_model, spec=spec, precision="tf32").report
    assert report.candidate_meta["precision"] == "tf32" and report.tolerance["precision"] == "tf32"
    assert report.passed, (report.first_failure, [(r.name, r.floor_multiple) for r in report.layers])


def test_a_reduced_precision_may_move_a_row_by_half_its_magnitude_float32_may_not(n_model, references, tmp_path):
    """bfloat16 on a random-weight model moves deep rows by most of their magnitude (model.20 of n at 256,
    random:0: 11.5 of 16): a real measurement, which once hit float32's integrity bound and made `diff` call the
    reference broken. The bound is float32's; such rows are named as unjudgeable at that precision instead."""
    reference = references["random"]
    with safe_open(str(reference), "np") as file:
        tensors = {k: file.get_tensor(k) for k in file.keys()}
        meta = file.metadata()
    wide = 0.9 * float(np.abs(tensors["model.20"]).max())
    reduced = json.loads(meta["noise_floor@float16"])
    reduced["model.20"] = wide
    edited = tmp_path / "wide-float16-floor.safetensors"
    save_file(tensors, str(edited), metadata={**meta, "noise_floor@float16": json.dumps(reduced)})
    honest = float16_port(n_model, reference, tmp_path / "fp16.safetensors")
    code, report, stderr = diff_json(edited, honest)
    assert code == 0, (report and report["first_failure"], stderr)
    assert any("cannot be judged at float16" in note and "model.20" in note for note in report["notes"])

    plain = json.loads(meta["noise_floor"])
    plain["model.20"] = wide  # the same value as float32's floor: no float32 run measures that
    broken = tmp_path / "wide-float32-floor.safetensors"
    save_file(tensors, str(broken), metadata={**meta, "noise_floor": json.dumps(plain)})
    result = run_cli("diff", broken, honest)
    assert result.returncode == 2 and "larger than its row could carry" in result.stderr
