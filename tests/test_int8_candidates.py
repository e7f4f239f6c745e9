"""Quantized (INT8, QDQ) ONNX graphs as candidates (issue 26): they run and map through their Q/DQ pairs, their rows
are ranked by SQNR and PCC as diagnosis (never failed by a float noise floor), the head-concat collapse is named, and
`val` takes them. The graph is a real `quantize_static` (QDQ, per-channel) of a real export of the trained shapes
detector, calibrated on generated shapes images, built once for the module.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from safetensors import safe_open

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = ROOT / "detector" / "yolov10n-shapes.pt"
IMGSZ = 160  # small and cheap; the detector still finds its shapes at this size
CALIBRATION = 4


def _images(folder: Path, split: str) -> list[Path]:
    return sorted((folder / "images" / split).glob("*.png"))


def quantize(source: Path, target: Path, calibration: list[Path]) -> Path:
    """onnxruntime's quantize_static as users run it: QDQ, int8 weights per channel, uint8 activations, calibrated on
    images preprocessed as the project does (letterbox to the full square, RGB, [0, 1])."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from yolo10port.dumps.input_source import read_image
    from yolo10port.dumps.inputs import array_tensor

    class Images(CalibrationDataReader):
        def __init__(self):
            self.left = iter(calibration)

        def get_next(self):
            path = next(self.left, None)
            if path is None:
                return None
            tensor, _ = array_tensor(read_image(path), IMGSZ, auto=False)
            return {"images": tensor.numpy()}

    prepared = target.with_suffix(".pre.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)  # the TopK defeats symbolic inference
    quantize_static(
        str(prepared),
        str(target),
        Images(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return target


@pytest.fixture(scope="module")
def int8(tmp_path_factory) -> dict[str, Path]:
    from yolo10port.reference.onnx_export import export_onnx

    sys.path.insert(0, str(ROOT / "detector"))
    try:
        from make_dataset import make_dataset
    finally:
        sys.path.remove(str(ROOT / "detector"))
    folder = tmp_path_factory.mktemp("int8")
    data = make_dataset(folder / "shapes", train=CALIBRATION, val=2, imgsz=IMGSZ).parent
    graph = export_onnx(DETECTOR, folder / "shapes.onnx", imgsz=IMGSZ)
    quantized = quantize(graph, folder / "shapes-int8.onnx", _images(data, "train"))
    return {"float": graph, "int8": quantized, "val": data / "images" / "val", "image": _images(data, "val")[0]}


@pytest.fixture(scope="module")
def random_dump(int8, tmp_path_factory) -> Path:
    """`run int8.onnx` through the real command line, on random:0 (reused by the diff test)."""
    out = tmp_path_factory.mktemp("run") / "int8.safetensors"
    result = run_cli("run", int8["int8"], "--imgsz", IMGSZ, "--input", "random:0", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "matches none of the six" not in result.stdout + result.stderr  # recognised: dequantized stem weight
    return out


def test_run_maps_every_layer_through_the_qdq_pairs(random_dump):
    with safe_open(str(random_dump), "np") as dump:
        keys, meta = set(dump.keys()), dump.metadata()
        head = dump.get_tensor("model.23")
    assert {f"model.{i}" for i in range(23)} | {"model.23", "detections"} <= keys
    assert meta["precision"] == "int8" and meta["scale"] == "n" and meta["nc"] == "3"
    nodes = json.loads(meta["onnx_nodes"])
    assert nodes["model.0"].endswith("DequantizeLinear")  # the float value the module hands on, after its Q/DQ
    assert nodes["model.23"].endswith("DequantizeLinear") and head.shape[1] == 4 + 3
    scheme = json.loads(meta["quantization"])
    assert scheme["format"] == "QDQ" and scheme["tool"] == "onnxruntime.quantization"
    assert scheme["weights"]["type"] == "int8" and "per-channel" in scheme["weights"]["granularity"]
    assert scheme["weights"]["symmetry"] == "symmetric" and scheme["activations"]["type"] == "uint8"
    assert scheme["activations"]["symmetry"] == "asymmetric" and scheme["float_nodes"] == []


def test_check_ranks_layers_by_sqnr_and_names_the_head_collapse(int8, tmp_path):
    report = tmp_path / "report.json"
    result = run_cli(
        "check", DETECTOR, "--candidate", int8["int8"], "--imgsz", IMGSZ, "--input", int8["image"], "--square",
        "-f", "json", "-o", report,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr  # diagnosis: exit 0, and the line says so
    assert "INT8 DIAGNOSIS, not a verdict" in result.stdout and "yolo10port val" in result.stdout
    comparison = json.loads(report.read_text())["comparisons"][0]
    rows = {row["name"]: row for row in comparison["layers"]}
    numeric = [row for row in comparison["layers"] if row["rule"] != "input"]
    assert numeric and all(row["rule"] == "int8" and row["pass"] and row["limit"] is None for row in numeric)
    assert comparison["isolated"] and all(row["isolated_sqnr"] is not None for row in numeric)
    ranked = comparison["quantized"]["worst_isolated"]
    assert [entry["sqnr_db"] for entry in ranked] == sorted(entry["sqnr_db"] for entry in ranked)
    assert len(ranked) == len(numeric) and ranked[0]["name"] == "model.23/scores"  # the collapsed head is worst
    # One uint8 scale over boxes (0–160 px) and scores (0–1): the scores collapse while the boxes hold.
    assert rows["model.23/scores"]["pcc"] < 0.2 and rows["model.23/boxes"]["pcc"] > 0.9
    assert rows["model.0"]["sqnr"] > 5 and rows["model.0"]["isolated_sqnr"] == pytest.approx(rows["model.0"]["sqnr"])
    hint = comparison["hint"]
    assert "one quantization scale for both" in hint and "keep the head's decode in float" in hint
    for wrong in ("BatchNorm eps", "stem sees its input", "rounding", "float16"):
        assert wrong not in result.stdout, wrong  # no float story told about an INT8 graph


def test_diff_on_random_input_warns_that_noise_cannot_judge_int8(random_dump, tmp_path):
    from safetensors.numpy import save_file

    from yolo10port.dumps.spec import RunSpec
    from yolo10port.reference.dump import dump_reference

    reference = dump_reference(DETECTOR, tmp_path / "reference.safetensors", RunSpec(input="random:0", imgsz=IMGSZ))
    result = run_cli("diff", reference, random_dump)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "random inputs cannot judge INT8" in result.stdout and "INT8 DIAGNOSIS" in result.stdout
    assert "FAIL" not in result.stdout  # no float-floor verdict on an int8 row
    # The same dump declared float32 is judged by the floor, and fails from model.0: the rule follows the metadata.
    with safe_open(str(random_dump), "np") as dump:
        tensors, meta = {k: dump.get_tensor(k) for k in dump.keys()}, dump.metadata()
    undeclared = tmp_path / "undeclared.safetensors"
    declared = {k: v for k, v in meta.items() if k != "quantization"} | {"precision": "float32"}
    save_file(tensors, str(undeclared), declared)
    assert run_cli("diff", reference, undeclared).returncode == 1


def test_val_takes_the_int8_graph(int8):
    result = run_cli(
        "val", DETECTOR, "--data", int8["val"], "--candidate", int8["int8"], "--imgsz", IMGSZ, "--square",
    )  # fmt: skip
    # Fully quantized, the head collapses: val is the verdict, and it fails the INT8 budget (exit 1, not 2). An
    # INT8 graph is judged by its mAP drop (max 0.02, quantize's budget), its match rate reported but not gated.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mAP50-95" in result.stdout and re.search(r"shapes-int8\.onnx\s+\(int8\)", result.stdout)
    verdict = " ".join(line for line in result.stdout.splitlines() if line.startswith("FAIL"))
    failures = verdict.split("—")[0]
    assert "mAP50-95 drop" in failures and "(max 0.02)" in failures and "match rate" not in failures, verdict
    assert "(not gated: INT8)" in verdict


def test_top_k_beyond_the_anchors_is_an_imgsz_error(int8, tmp_path):
    from yolo10port.candidates.graph import GraphCandidate
    from yolo10port.dumps.spec import RunSpec
    from yolo10port.errors import InputError

    model = onnx.load(int8["float"])
    for dim, name in zip(model.graph.input[0].type.tensor_type.shape.dim[2:], ("height", "width")):
        dim.Clear()
        dim.dim_param = name  # a graph whose input size is free: --imgsz 64 would reach the runtime's TopK
    dynamic = tmp_path / "free.onnx"
    onnx.save(model, dynamic)
    with pytest.raises(InputError) as refused:  # before the runtime loads (was an "unexpected error" from its TopK)
        GraphCandidate.open(dynamic, "onnxruntime", spec=RunSpec(imgsz=64))
    assert refused.value.where == "--imgsz"
    for fragment in ("top 300 boxes", "84 anchors", "--imgsz 128"):
        assert fragment in str(refused.value), fragment
    GraphCandidate.open(dynamic, "onnxruntime", spec=RunSpec(imgsz=128))  # 336 anchors: enough


def test_weights_are_read_dequantized(int8):
    from yolo10port.candidates.graph import folded_stem
    from yolo10port.candidates.onnx_graph import conv_weight, load_graph
    from yolo10port.weights.reader import read_weights

    graph = load_graph(int8["int8"])
    stem = conv_weight(graph, "model.0.conv")
    folded = folded_stem(read_weights(DETECTOR))
    assert stem is not None and stem.shape == folded.shape
    # int8 per output channel: each weight within half a step (max|w| / 127 / 2) of the float one.
    step = np.abs(folded).reshape(len(folded), -1).max(1) / 127
    assert np.all(np.abs(stem - folded) <= step.reshape(-1, 1, 1, 1) * 0.5 + 1e-6)


def test_attention_hint_needs_model_10_worst_alone():
    """The attention hint fires when the lowest isolated SQNR of the body is the PSA's, and for no other layer, no
    float candidate, and no report without isolated error (chained SQNR falls with depth whoever is at fault)."""
    from yolo10port.compare.engine import Report
    from yolo10port.compare.hints import firing
    from yolo10port.compare.rows import LayerRow

    def report(worst: str, isolated: bool = True, quantized: bool = True) -> Report:
        rows = []
        for i, kind in enumerate(["Conv"] * 10 + ["PSA"] + ["C2f"] * 12):
            row = LayerRow(f"model.{i}", kind, [1, 8, 4, 4], max_abs=0.1, pcc=0.99, sqnr=20.0 - i / 2, rule="int8")
            row.isolated_sqnr = (8.6 if row.name == worst else 25.0) if isolated else None
            rows.append(row)
        built = Report("ref", "cand", {}, layers=rows, isolated=isolated, quantized=quantized)
        return built

    assert firing(report("model.10")) == ["attention-int8"]
    assert "model.10 (PSA) loses the most on its own (isolated SQNR 8.6 dB" in report("model.10").hint
    assert firing(report("model.5")) == []
    assert firing(report("model.10", isolated=False)) == []
