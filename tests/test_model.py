"""The clean model: import boundary, parity with ultralytics on every scale, fused, sizes, batch, classes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import assert_input_error, run_cli, scale_params
from yolo10port.compare import Tolerances
from yolo10port.dumps.spec import RunSpec
from yolo10port.model import YOLOv10
from yolo10port.workflows.check import run_check

STRICT = Tolerances(mode="fixed", atol=0.0, rtol=1e-5)  # issue #4's bar: every layer within 1e-5 × max|ref|


def test_model_package_never_imports_ultralytics():
    code = (
        "import sys, yolo10port.model as m; m.YOLOv10('n');"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('ultralytics', 'cv2', 'safetensors', 'numpy')];"
        "print(bad); sys.exit(1 if any(k.startswith('ultralytics') for k in bad) else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def assert_parity(report, tolerance_name=""):
    assert len([r for r in report.layers if r.name.startswith("model.")]) == 25  # model.23: boxes and scores
    for row in report.layers:
        assert row.passed, (tolerance_name, row)
    det = report.detections
    assert det.passed and det.matched == det.total == 300 * len(det.per_image), det


@pytest.mark.parametrize("scale", scale_params())  # b, l, x: extended
def test_unfused_parity_on_ones_and_bus(scale, make_fixture):
    from yolo10port.reference.fixture import bundled_images

    path = make_fixture(scale)
    imgsz = 320 if scale == "m" else 640  # m stands for the large scales in CI: its architecture, in a quarter the time
    for spec in ("ones", str(bundled_images()[0])):
        report = run_check(path, spec=RunSpec(input=spec, imgsz=imgsz), tolerances=STRICT, floor=False).report
        assert_parity(report, spec)
        assert max(row.max_abs for row in report.layers) == 0.0  # same ops, same order: bit-exact


# The fused clean model against the default rule on all six scales: tests/test_diagnostics.py (random:0).


@pytest.mark.parametrize("scale", "blx")
def test_large_scales_hold_exactly_the_tensors_ultralytics_builds(scale):
    """CI's stand-in for the b, l and x parity runs (extended): each scale's row of the table (width, depth, channel
    cap, CIB layers, kernel size) gives the clean model exactly the keys and shapes of the network ultralytics builds
    from its yaml; the loader is strict, so one wrong row fails here, in seconds and without a fixture."""
    from yolo10port.model import load_state_dict
    from yolo10port.reference.network import build_network

    network = build_network(scale, 80).state_dict()
    report = load_state_dict(YOLOv10(scale), network)  # raises LoadError on a missing, extra or misshapen key
    assert sorted(report.consumed + report.ignored) == sorted(network)
    assert not any(key.startswith("model.23.one2one") for key in report.ignored if "num_batches" not in key)


@pytest.mark.parametrize(("imgsz", "batch"), [(320, 1), (1280, 1), (640, 2)])
def test_other_sizes_and_batches(imgsz, batch, make_fixture):
    spec = RunSpec(input="random:3", imgsz=imgsz, batch=batch)
    report = run_check(make_fixture("n"), spec=spec, tolerances=STRICT, floor=False).report
    assert_parity(report)
    assert report.layers[1].shape == [batch, 16, imgsz // 2, imgsz // 2]


def test_custom_class_count(make_fixture):
    report = run_check(make_fixture("s", nc=3), tolerances=STRICT, floor=False).report
    assert_parity(report)
    assert report.layers[-1].name == "model.23/scores" and report.layers[-1].shape[1] == 3


def test_fused_checkpoint_loads_on_both_sides(make_fixture):
    report = run_check(make_fixture("n", fused=True), tolerances=STRICT, floor=False).report
    assert_parity(report)


def test_python_api_returns_detections(make_fixture):
    model = YOLOv10.from_file(make_fixture("n"))
    with torch.inference_mode():
        detections = model(torch.ones(2, 3, 320, 320))
    assert detections.shape == (2, 300, 6)
    assert set(model.load_report.ignored) >= {"model.23.cv2.0.2.weight", "model.0.bn.num_batches_tracked"}
    one_to_one_ignored = [k for k in model.load_report.ignored if k.startswith("model.23.one2one")]
    assert all(k.endswith("num_batches_tracked") for k in one_to_one_ignored)


def test_wrong_scale_and_wrong_nc_exit_2(make_fixture, tmp_path):
    path = make_fixture("n")
    assert_input_error(
        run_cli("run", path, "--scale", "s", "-o", tmp_path / "a.safetensors"),
        "YOLOv10-s",
        "model.0.conv.weight",
        "expected shape (32, 3, 3, 3), found (16, 3, 3, 3)",
    )
    assert_input_error(run_cli("run", path, "--nc", "3", "-o", tmp_path / "b.safetensors"), "nc=3", "expected shape")
    assert not list(tmp_path.iterdir())


def test_check_command_prints_table_and_exit_code(make_fixture, tmp_path):
    result = run_cli("check", make_fixture("n"), "--workdir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout and "model.10" in result.stdout and "300/300" in result.stdout
    assert "all-ones" in result.stderr  # the blind-spot warning
