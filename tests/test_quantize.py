"""`yolo10port quantize` on the trained shapes detector (imgsz 256, 16 generated calibration and 16 held-out images):
full INT8 collapses the scores, keeping the decode in float recovers them, `auto` finds a set within a budget that
full INT8 breaches, the written exclusion set works when fed back to onnxruntime by hand, and bad inputs exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, assert_input_error, run_cli

SHAPES = ROOT / "detector" / "yolov10n-shapes.pt"
IMGSZ = 256


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> dict[str, Path]:
    """The shapes data (16 train images to calibrate on, 16 held-out val images to score on) and the detector's
    float ONNX export at 256 (the exporter `yolo10port onnx` uses, without its verification run)."""
    sys.path.insert(0, str(ROOT / "detector"))
    from make_dataset import make_dataset

    from yolo10port.reference.onnx_export import export_onnx

    folder = tmp_path_factory.mktemp("quantize")
    data = make_dataset(folder / "shapes", train=16, val=16, imgsz=IMGSZ)
    graph = export_onnx(SHAPES, folder / "shapes.onnx", imgsz=IMGSZ)
    return {"folder": folder, "data": data, "calib": folder / "shapes" / "images" / "train", "graph": graph}


def quantize(shapes, name: str, *options: str):
    out = shapes["folder"] / f"{name}.int8.onnx"
    result = run_cli(
        "quantize", shapes["graph"], "--calib", shapes["calib"], "--val", shapes["data"], "-o", out,
        "--bootstrap", "50", *options,
    )  # fmt: skip
    exclusion = out.with_name(f"{name}.int8.exclusion.json")
    return result, out, (json.loads(exclusion.read_text()) if exclusion.exists() else None)


@pytest.fixture(scope="module")
def head_run(shapes):
    return quantize(shapes, "head", "--keep-float", "head", "--budget", "0.15")


def test_full_int8_collapses_scores_and_keep_float_head_recovers(shapes, head_run):
    none, none_out, none_set = quantize(shapes, "none", "--keep-float", "none")
    assert none.returncode == 1, none.stderr  # full INT8 breaches the default budget
    assert none_out.exists() and "MISSES the budget" in none.stdout
    measured = none_set["measured"]
    assert measured["float_map50_95"] > 0.6
    assert measured["final"]["map50_95"] < 0.05  # one scale for boxes and scores: every score rounds to 0
    assert none_set["modules"] == []
    result, out, kept = head_run
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert kept["modules"] == ["model.23.decode"]
    names = kept["onnxruntime"]["nodes_to_exclude"]
    assert "/model.23/Concat_3" in names and "/model.23/Sigmoid" in names and "/model.23/dfl/Softmax" in names
    assert not any("one2one_cv" in name for name in names)  # the head's convolutions are quantized
    assert not any(name.startswith("/model.2/") for name in names)  # a SiLU's Sigmoid elsewhere is not caught
    assert kept["measured"]["final"]["map50_95"] > 0.8 * kept["measured"]["float_map50_95"]
    assert kept["nncf"]["ignored_scope"]["names"] == names


def test_exclusion_set_works_by_hand(shapes, head_run):
    """The written nodes_to_exclude, fed to onnxruntime's own quantize_static by hand, gives the tool's graph."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from yolo10port.dumps.inputs import image_tensor

    _, tool_graph, kept = head_run
    images = sorted(shapes["calib"].glob("*.png"))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"images": image_tensor(p, IMGSZ, 1, auto=False)[0].numpy()} for p in images])

        def get_next(self):
            return next(self.batches, None)

    folder = shapes["folder"]
    quant_pre_process(str(shapes["graph"]), str(folder / "prepared.onnx"), skip_symbolic_shape=True)
    settings = kept["onnxruntime"]["quantize_static"]
    quantize_static(
        str(folder / "prepared.onnx"),
        str(folder / "by-hand.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=settings["per_channel"],
        activation_type=getattr(QuantType, settings["activation_type"]),
        weight_type=getattr(QuantType, settings["weight_type"]),
        nodes_to_exclude=kept["onnxruntime"]["nodes_to_exclude"],
    )
    feed = {"images": image_tensor(images[0], IMGSZ, 1, auto=False)[0].numpy()}
    by_hand, tool = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        for p in (folder / "by-hand.onnx", tool_graph)
    )
    assert by_hand[0, 0, 4] > 0.5  # a confident detection: the scores did not collapse
    np.testing.assert_allclose(by_hand, tool, atol=1e-4)


def test_unlabelled_images_are_scored_against_the_float_graphs_own_detections(shapes, tmp_path):
    """No labels: the float graph's detections at conf 0.25 are the truth, so float scores 1.0 against itself, full
    INT8's collapse still shows (agreement ~0), and keeping the decode in float restores most of the agreement."""
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for image in sorted(shapes["calib"].glob("*.png")):
        (unlabelled / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "pseudo.int8.onnx"
    result = run_cli(
        "quantize", shapes["graph"], "--calib", unlabelled, "--keep-float", "head", "--budget", "0.5",
        "--bootstrap", "50", "-o", out,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr)
    measured = json.loads(out.with_name("pseudo.int8.exclusion.json").read_text())["measured"]
    assert "unlabelled" in measured["scored_on"] and "agreement with float" in measured["scored_on"]
    assert measured["float_map50_95"] == pytest.approx(1.0)
    assert measured["full_int8"]["map50_95"] < 0.05
    assert measured["final"]["map50_95"] > 0.5
    assert "not how accurate" in " ".join(result.stderr.split())


@pytest.mark.extended  # 26 units quantized alone, then the chosen set: ~70 s of CPU (make test-all)
def test_auto_finds_a_set_within_the_budget_full_int8_breaches(shapes):
    result, _, kept = quantize(shapes, "auto", "--keep-float", "auto", "--budget", "0.1")
    assert result.returncode == 0, (result.stdout, result.stderr)
    measured = kept["measured"]
    assert measured["full_int8"]["drop"] > 0.1  # what auto had to fix
    assert measured["final"]["drop"] <= 0.1
    assert measured["ranking"][0]["unit"] == "model.23.decode"  # quantized alone, the decode costs the most
    assert "model.23.decode" in kept["modules"]
    assert kept["modules"] == measured["steps"][-1]["units"]
    assert "sensitivity" in result.stdout and "model.10" in result.stdout


def test_bad_inputs_exit_2_with_one_line(shapes, tmp_path):
    graph = shapes["graph"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_input_error(run_cli("quantize", graph, "--calib", empty, "-o", tmp_path / "a.onnx"), "holds no images")
    assert_input_error(
        run_cli("quantize", graph, "--calib", tmp_path / "missing", "-o", tmp_path / "a.onnx"), "--calib"
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "not-an-image.png").write_text("hello")
    assert_input_error(
        run_cli("quantize", graph, "--calib", broken, "-o", tmp_path / "a.onnx"), "not-an-image.png", "image"
    )
    calib = shapes["calib"]
    assert_input_error(
        run_cli("quantize", graph, "--calib", calib, "--keep-float", "model.99", "-o", tmp_path / "a.onnx"),
        "model.99",
    )
    blank = tmp_path / "blank"  # unlabelled, and nothing in them for the float graph to find: nothing to rank by
    blank.mkdir()
    import cv2

    cv2.imwrite(str(blank / "grey.png"), np.full((IMGSZ, IMGSZ, 3), 114, np.uint8))
    assert_input_error(
        run_cli("quantize", graph, "--calib", blank, "--keep-float", "auto", "-o", tmp_path / "a.onnx"),
        "unlabelled",
        "detects nothing",
    )
    assert_input_error(run_cli("quantize", graph, "--calib", calib, "-o", graph), "same as an input")
    assert_input_error(run_cli("quantize", graph, "--calib", calib, "--backend", "tflite"), "--backend")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("*.json"))  # nothing partial left
