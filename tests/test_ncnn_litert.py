"""ncnn (and LiteRT) as candidates: the one-to-one export through pnnx, the structural map to module paths, the
options recorded, a planted weight bug named at its layer, and the one-to-many export refused.

One export of the n fixture at 160 (`yolo10port ncnn`, which also proves it: exit 0 only if ncnn passes against the
reference) serves every test; the planted bug edits a copy of its .bin, as a broken converter would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

pytest.importorskip("ncnn")
pytest.importorskip("pnnx")

from yolo10port.candidates.ncnn_map import map_param, read_param  # noqa: E402
from yolo10port.dumps.spec import RunSpec  # noqa: E402
from yolo10port.formats import safetensors_metadata  # noqa: E402
from yolo10port.workflows.selftest.planted import plant_litert, plant_ncnn  # noqa: E402

IMGSZ = 160
NO_WINOGRAD = "use_winograd_convolution=false"


@pytest.fixture(scope="module")
def exported(make_fixture, tmp_path_factory):
    """`yolo10port ncnn` on the n fixture: (weights, folder, the command's result)."""
    weights = make_fixture("n")
    folder = tmp_path_factory.mktemp("ncnn") / "yolov10n_ncnn_model"
    result = run_cli("ncnn", weights, "-o", folder, "--imgsz", IMGSZ)
    return weights, folder, result


def test_export_keeps_the_one_to_one_head_and_proves_it(exported):
    weights, folder, result = exported
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout and "Winograd off" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.yaml", "model.ncnn.bin", "model.ncnn.param"]
    meta = (folder / "metadata.yaml").read_text()
    assert "end2end: true" in meta and "head: one2one" in meta
    # Every module path at depth 1 has a blob, and the convs are this scale's, in order.
    nmap = map_param(read_param(folder / "model.ncnn.param"), "n", 80, IMGSZ)
    assert [key for key in nmap.select(1) if key != "detections"] == [f"model.{i}" for i in range(24)]
    assert len(nmap.conv_layers) == 83 and nmap.conv_layers["model.0.conv"] == 1


def test_run_records_options_and_maps_every_depth(exported, tmp_path):
    _, folder, _ = exported
    out = tmp_path / "ncnn.safetensors"
    result = run_cli(
        "run", folder, "--runtime", "ncnn", "--imgsz", IMGSZ, "--input", "random:0", "--depth", "all",
        "--runtime-option", NO_WINOGRAD, "--runtime-option", "num_threads=1", "-o", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = safetensors_metadata(out)
    options = json.loads(meta["ncnn_options"])
    assert options["use_winograd_convolution"] is False and options["num_threads"] == 1
    assert meta["kernels"] in ("sgemm", "direct") and meta["precision"] == "float32"
    order = json.loads(meta["order"])
    assert {"model.9.m", "model.9.m#1", "model.9.m#2", "model.10.attn.qkv.conv", "model.23.dfl", "detections"} <= set(
        order
    )
    absent = json.loads(meta["no_counterpart"])
    assert "BatchNorm folded" in absent["model.0.bn"] and "RepVGGDW" in absent["model.22.m.0.cv1.2.conv1"]


def test_bad_runtime_option_is_refused_by_name():
    from yolo10port.candidates.ncnn import runtime_options
    from yolo10port.errors import InputError

    assert runtime_options(["use_sgemm_convolution=off", "num_threads=2"]) == {
        "use_sgemm_convolution": False,
        "num_threads": 2,
    }
    for bad, fragment in (("use_magic=1", "use_winograd_convolution"), ("num_threads=two", "takes a int")):
        with pytest.raises(InputError, match=fragment):
            runtime_options([bad])


def test_ultralytics_one_to_many_export_is_refused(exported, tmp_path):
    """ultralytics' own ncnn export of YOLOv10 drops the one-to-one head and says so in metadata.yaml (end2end:
    false); the folder is refused with the cause and the fix, whatever its convs hold."""
    from yolo10port.candidates.ncnn import NcnnCandidate
    from yolo10port.errors import InputError

    _, folder, _ = exported
    theirs = tmp_path / "yolov10n_ncnn_model"
    shutil.copytree(folder, theirs)
    (theirs / "metadata.yaml").write_text("description: Ultralytics YOLOv10n model\nend2end: false\ntask: detect\n")
    with pytest.raises(InputError, match="one-to-many head.*yolo10port ncnn MODEL"):
        NcnnCandidate.open(theirs)


def _plant(folder: Path, into: Path, conv_path: str, factor: float) -> Path:
    """A copy of the export whose `conv_path` weights are scaled in the .bin, as a broken converter would."""
    return plant_ncnn(folder, into, "n", 80, IMGSZ, conv_path, factor)


def test_planted_weight_bug_is_named_at_model_13(exported, tmp_path):
    from yolo10port.workflows.check import run_check

    weights, folder, _ = exported
    buggy = _plant(folder, tmp_path / "buggy_ncnn_model", "model.13.cv1.conv", 1.001)
    spec = RunSpec(input="random:0", imgsz=IMGSZ)
    result = run_check(weights, tmp_path / "work", spec, candidate=str(buggy), runtime_options=[NO_WINOGRAD])
    report = result.report
    rows = {row.name: row for row in report.layers}
    assert not report.passed and report.first_failure == "model.13", report.first_failure
    assert report.culprit == "model.13"
    assert all(rows[f"model.{i}"].passed and rows[f"model.{i}"].isolated_passed for i in range(13))
    assert rows["model.13"].isolated_passed is False
    assert rows["model.16"].isolated_passed  # fed the reference's inputs, the layers after it are right


def test_winograd_is_declared_and_judged_by_its_floor_and_a_bug_is_still_caught(exported, tmp_path):
    """ncnn's defaults compute 3×3 convs by Winograd: the dump says precision=winograd, check gives the reference the
    winograd floor and judges by it (honest: pass); the same file with a model.13 weight × 1.001 fails at model.13."""
    from yolo10port.candidates.ncnn import NcnnCandidate
    from yolo10port.workflows.check import run_check

    weights, folder, _ = exported
    assert NcnnCandidate.open(folder).precision() == "winograd"
    assert NcnnCandidate.open(folder, {"use_winograd_convolution": False}).precision() == "float32"
    assert NcnnCandidate.open(folder, {f"use_winograd{n}_convolution": False for n in (23, 43, 63)}).precision() == (
        "float32"
    )  # the switch on, but no Winograd kernel allowed: ncnn computes directly
    spec, work = RunSpec(input="random:0", imgsz=IMGSZ), tmp_path / "work"
    honest = run_check(weights, work, spec, candidate=str(folder), reuse=True).report
    assert honest.candidate_meta["precision"] == "winograd" and honest.candidate_meta["kernels"].startswith("winograd")
    assert honest.tolerance["precision"] == "winograd" and "noise_floor@winograd" in honest.reference_meta
    assert honest.passed, (honest.first_failure, [(r.name, r.margin) for r in honest.layers])
    buggy = _plant(folder, tmp_path / "buggy_ncnn_model", "model.13.cv1.conv", 1.001)
    report = run_check(weights, work, spec, candidate=str(buggy), reuse=True, drill=True).report
    assert report.tolerance["precision"] == "winograd"
    assert not report.passed and report.first_failure == "model.13", report.first_failure
    assert report.drill.tolerance["precision"] == "winograd"  # the drill judges by the same floor
    assert report.drill.culprit == "model.13.cv1.conv", report.drill.culprit


def test_val_runs_ncnn_on_the_static_square(exported, tmp_path):
    """val's ncnn side: the model's decoded head, top-k on the host, equal to the clean model's detections; a
    rectangle (val without --square) is refused with the option to use."""
    import torch

    from yolo10port.candidates.clean import load_clean_model
    from yolo10port.dumps.inputs import make_input
    from yolo10port.errors import InputError
    from yolo10port.workflows.val_sides import Setup, make_runner

    weights, folder, _ = exported
    runner = make_runner(str(folder), Setup(weights, IMGSZ, True, "float32", False, "cpu", tmp_path))
    tensor = make_input(RunSpec(input="bus.jpg", imgsz=IMGSZ, square=True)).tensor
    rows = runner.rows(tensor)
    clean, _ = load_clean_model(weights, fuse=True)
    with torch.inference_mode():
        expected = clean(tensor)[0].numpy()
    assert rows.shape == expected.shape == (300, 6)
    assert abs(rows[0, 4] - expected[0, 4]) < 1e-3 and rows[0, 5] == expected[0, 5]  # the top row, rounding apart
    assert np.abs(rows[0, :4] - expected[0, :4]).max() < 0.5
    with pytest.raises(InputError, match="--square"):
        make_runner(str(folder), Setup(weights, IMGSZ, False, "float32", False, "cpu", tmp_path))


def test_check_refuses_another_networks_ncnn_model(exported, tmp_path):
    """The file's model.0 conv is compared with the checkpoint's: other weights are refused before any dump."""
    from yolo10port.candidates.ncnn import NcnnCandidate, check_against_weights
    from yolo10port.errors import InputError
    from yolo10port.weights.reader import read_weights

    weights, folder, _ = exported
    other = _plant(folder, tmp_path / "other_ncnn_model", "model.0.conv", -1.0)
    with pytest.raises(InputError, match="model.0 conv is not .*yolo10port ncnn"):
        check_against_weights(NcnnCandidate.open(other), read_weights(weights))


# --- LiteRT: the export needs litert-torch in its own environment (`make litert-export`); used when it exists -----

LITERT_MODEL = Path(__file__).resolve().parents[1] / "build" / "litert" / "yolov10n-160.tflite"
LITERT_WEIGHTS = LITERT_MODEL.with_suffix(".pt")
needs_litert_export = pytest.mark.skipif(
    not LITERT_MODEL.is_file(), reason="no LiteRT export: `make litert-export` makes one (separate environment)"
)


@needs_litert_export
def test_litert_maps_every_depth_and_passes(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from yolo10port.workflows.check import run_check

    spec = RunSpec(input="random:0", imgsz=IMGSZ)
    for resolver in ("xnnpack", "builtin"):
        result = run_check(
            LITERT_WEIGHTS,
            tmp_path / resolver,
            spec,
            candidate=str(LITERT_MODEL),
            runtime_options=[f"resolver={resolver}"],
        )
        assert result.report.passed, result.report.first_failure
        meta = safetensors_metadata(result.files["candidate"])
        assert meta["kernels"] == resolver and json.loads(meta["litert_options"])["resolver"] == resolver


@needs_litert_export
def test_litert_planted_weight_bug_is_named_at_model_13(tmp_path):
    """One conv filter of model.13 × 1.001, found by its bytes in the flatbuffer."""
    pytest.importorskip("ai_edge_litert")
    from yolo10port.workflows.check import run_check

    buggy = plant_litert(LITERT_MODEL, tmp_path / "buggy.tflite", "model.13.cv1.conv", 1.001)
    spec = RunSpec(input="random:0", imgsz=IMGSZ)
    report = run_check(LITERT_WEIGHTS, tmp_path / "work", spec, candidate=str(buggy)).report
    assert not report.passed and report.first_failure == "model.13", report.first_failure


def test_litert_scope_names_map_to_module_paths():
    """The mapping rules on litert-torch's own tensor names (as its export of the n fixture writes them); runs
    without an export."""
    pytest.importorskip("ai_edge_litert")
    from yolo10port.candidates.graph import reference_tree
    from yolo10port.candidates.litert import as_nchw, scope_paths

    tree = reference_tree("n", 80)
    root = "ultralytics.nn.tasks.DetectionModel/"
    conv, block, act = "ultralytics.nn.modules.conv.", "ultralytics.nn.modules.block.", "torch.nn.modules.activation."
    assert scope_paths(f"{root}{block}C2f_6/{conv}Conv_cv2/{act}SiLU_act;", tree) == ["model.6.cv2.act"]
    bottleneck = f"{root}{block}C2f_13/{block}Bottleneck_0/{conv}Conv_cv1/torch.nn.modules.conv.Conv2d_conv;3"
    assert scope_paths(bottleneck, tree) == ["model.13.m.0.cv1.conv"]  # the ModuleList `m` is not in the name
    assert scope_paths(f"{root}torch.nn.modules.upsampling.Upsample_11;1", tree) == ["model.11"]
    head = f"{root}ultralytics.nn.modules.head.v10Detect_23/torch.nn.modules.container.Sequential_0/"
    assert sorted(scope_paths(head + "torch.nn.modules.conv.Conv2d_2;", tree)) == [
        "model.23.one2one_cv2.0.2",
        "model.23.one2one_cv3.0.2",
    ]  # two ModuleLists hold a member 0: the shape decides
    assert scope_paths("arith.constant14", tree) == []
    nhwc = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(1, 3, 4, 10)
    assert np.array_equal(as_nchw(nhwc, (1, 10, 3, 4)), nhwc.transpose(0, 3, 1, 2))
    assert as_nchw(nhwc, (1, 3, 4, 10)) is nhwc  # already the reference's shape: kept
    assert as_nchw(nhwc, (1, 7, 3, 4)) is None
    # C = H = W (x's 80-channel stem at 160 px): the shape cannot tell, the producing op's layout does. Taken as
    # it was, x's model.0 under LiteRT read PCC 0.0009 while model.1, fed by it, was exact.
    cube = np.arange(4**3, dtype=np.float32).reshape(1, 4, 4, 4)
    assert np.array_equal(as_nchw(cube, (1, 4, 4, 4), nhwc=True), cube.transpose(0, 3, 1, 2))
    assert as_nchw(cube, (1, 4, 4, 4), nhwc=False) is cube


def test_winograd_kernels_without_the_floor_get_a_hint_and_nothing_else_does():
    """A dump whose metadata names Winograd kernels, failing by a few float32 floors against a reference without
    the winograd floor, is told how to judge it; a bigger error, or no such metadata, gets no Winograd hint."""
    from types import SimpleNamespace

    from yolo10port.compare.precision import hint

    def report(multiple: float, kernels: str | None, floors: dict) -> SimpleNamespace:
        row = SimpleNamespace(name="model.9", passed=False, rule="floor", floor_multiple=multiple, max_abs=1e-4)
        meta = {"kernels": kernels} if kernels else {}
        return SimpleNamespace(
            passed=False, tolerance={"precision": "float32"}, reference_meta=floors, candidate_meta=meta, layers=[row]
        )

    float32_only = {"noise_floor": json.dumps({"model.9": 1e-5})}
    text = hint(report(6.5, "winograd F(23,43,63)", float32_only))
    assert "--floors winograd" in text and "--precision winograd" in text
    assert hint(report(40.0, "winograd F(23,43,63)", float32_only)) is None  # too large for rounding: a bug
    assert hint(report(6.5, "sgemm", float32_only)) is None
    assert hint(report(6.5, None, float32_only)) is None


def test_litert_by_name_needs_the_export_and_says_where(make_fixture, tmp_path, monkeypatch):
    """`--candidate litert` runs make litert-export's file; where there is none, exit 2 names it (the tool cannot
    export LiteRT itself), before anything is exported or dumped."""
    from yolo10port.errors import InputError
    from yolo10port.workflows.check import run_check

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"build/litert/yolov10n-96\.tflite.*make litert-export"):
        run_check(make_fixture("n"), tmp_path / "work", RunSpec(imgsz=96), candidate="litert")
    assert not list(tmp_path.iterdir())
