"""ONNX graphs as candidates: real exports (ultralytics' own exporter and `yolo10port onnx`), real ONNX Runtime and
OpenVINO runs, diffed against the real ultralytics reference; planted graph bugs that must be caught and localised;
graphs that must be refused. YOLOv10-n at imgsz 320 keeps the file fast."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from safetensors.numpy import load_file, save_file

from tests.conftest import assert_input_error, run_cli
from yolo10port.candidates.graph import RUNTIMES, GraphCandidate, graph_candidate, open_session
from yolo10port.candidates.onnx_graph import load_graph, map_graph, scope_keys
from yolo10port.compare import diff_dumps
from yolo10port.compare.model_explorer import FAIL_COLOUR, PASS_COLOUR, render_model_explorer
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.reader import DumpReader, read_dump_metadata
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.reference.dump import dump_reference
from yolo10port.reference.fixture import bundled_images
from yolo10port.weights.reader import read_weights
from yolo10port.workflows.check import run_check

os.environ.setdefault("YOLO_OFFLINE", "1")  # the ultralytics exports below must never reach for the network

IMGSZ = 320
BUS = str(bundled_images()[0])
SPEC = RunSpec(imgsz=IMGSZ)
# ultralytics' Identity activations (act=False convs): no node in any graph, listed as having no counterpart.
IDENTITY_ACTS = {
    "model.5.cv2.act",
    "model.7.cv2.act",
    "model.10.attn.qkv.act",
    "model.10.attn.pe.act",
    "model.10.attn.proj.act",
    "model.10.ffn.1.act",
    "model.20.cv2.act",
}
DEPTH_1 = [f"model.{i}" for i in range(24)] + ["detections"]


@pytest.fixture(scope="module")
def weights(make_fixture) -> Path:
    return make_fixture("n")


@pytest.fixture(scope="module")
def graphs(weights, tmp_path_factory) -> dict[str, Path]:
    """ultralytics' own ONNX exports of the fixture, as a user makes them (trusted fixture files, so YOLO() may
    unpickle them): simplified (default opset) or not (opset 13), static or dynamic; and the refused variants."""
    from ultralytics import YOLO

    from yolo10port.reference.fixture import quiet_ultralytics
    from yolo10port.reference.network import keep_torch_threads

    folder = tmp_path_factory.mktemp("onnx")
    variants = {
        "static": {"nms": False},
        "plain": {"nms": False, "simplify": False, "opset": 13},
        "dynamic": {"nms": False, "dynamic": True},
        "one2many": {"nms": None},  # ultralytics' default: the one-to-many head for NMS
        "nms": {"nms": True},
    }
    exported = {}
    for name, options in variants.items():
        checkpoint = folder / f"yolov10n-{name}.pt"
        shutil.copy(weights, checkpoint)
        with keep_torch_threads(), quiet_ultralytics():
            exported[name] = Path(YOLO(checkpoint).export(format="onnx", imgsz=IMGSZ, **options))
    renamed = onnx.load(exported["static"])
    for i, node in enumerate(renamed.graph.node):
        node.name = f"node_{i}"  # what some optimizers and converters do
    exported["renamed"] = folder / "yolov10n-renamed.onnx"
    onnx.save(renamed, exported["renamed"])
    return exported


@pytest.fixture(scope="module")
def ours(weights, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """`yolo10port onnx` through the real command line (export, then its own ONNX Runtime check)."""
    out = tmp_path_factory.mktemp("ours") / "yolov10n.onnx"
    command = "import yolo10port.cli.onnx; from yolo10port.cli import main; main()"  # until cli/__init__ lists it
    result = subprocess.run(
        [sys.executable, "-c", command, "onnx", str(weights), "-o", str(out), "--imgsz", str(IMGSZ)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result, out


@pytest.fixture(scope="module")
def references(weights, tmp_path_factory) -> dict[str, Path]:
    """The ultralytics reference on each input (noise floor and recorded inputs included)."""
    folder = tmp_path_factory.mktemp("references")
    paths = {}
    for name, source in {"ones": "ones", "random": "random:0", "bus": BUS}.items():
        spec = SPEC.but(input=source, with_inputs=True)
        paths[name] = dump_reference(weights, folder / f"{name}.safetensors", spec)
    return paths


@pytest.fixture(scope="module")
def fused_all(weights, tmp_path_factory) -> Path:
    """The reference built fused like an export, every module hooked (what `check --drill` compares a graph with)."""
    out = tmp_path_factory.mktemp("fused") / "fused.safetensors"
    return dump_reference(weights, out, SPEC.but(input="random:0", depth=None), fuse=True)


def check_folder(weights: Path, folder: Path, reference: Path) -> Path:
    """A `check --workdir` that already holds the reference dump for its spec (check reuses it, as with --reuse)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(reference, folder / f"{weights.stem}.reference.safetensors")
    return folder


def test_scope_names_become_module_paths():
    assert scope_keys("/model.10/attn/qkv/conv/Conv") == [
        "model.10",
        "model.10.attn",
        "model.10.attn.qkv",
        "model.10.attn.qkv.conv",
    ]
    assert scope_keys("/model.9/m_2/MaxPool") == ["model.9", "model.9.m#2"]  # SPPF's third call of one pool
    assert scope_keys("/model.10/ffn/ffn.0/act/Mul")[-1] == "model.10.ffn.0.act"
    head = "/model.23/one2one_cv3.0/one2one_cv3.0.0/one2one_cv3.0.0.0/conv/Conv"
    assert scope_keys(head)[-1] == "model.23.one2one_cv3.0.0.0.conv"
    assert scope_keys("/model.1/conv/Conv")[0] == "model.1"  # not model.10: whole components, never prefixes
    assert scope_keys("node_12") == scope_keys("/model/model.0/conv/Conv") == []


def test_every_export_maps_to_the_fused_reference_paths(graphs, fused_all):
    with DumpReader(fused_all) as reader:
        reference_keys = set(reader.keys()) - {"input"}
    for name in ("static", "plain", "dynamic"):
        gmap = map_graph(load_graph(graphs[name]))
        assert gmap.select(1) == DEPTH_1, name
        assert set(gmap.select(None)) == reference_keys - IDENTITY_ACTS, name
        assert gmap.nodes["model.1"] == "/model.1/act/Mul" and gmap.nodes["model.10"] == "/model.10/cv2/act/Mul"
        decoded = gmap.graph.node_of(gmap.values["model.23"])
        assert decoded.op_type == "Concat" and decoded.name.startswith("/model.23/"), (name, decoded.name)
        assert gmap.graph.shape(gmap.values["model.23"])[1] == 84 and gmap.nc == 80
        assert gmap.static == (name != "dynamic")


def test_mapping_does_not_depend_on_node_order(graphs, tmp_path):
    shuffled = onnx.load(graphs["static"])
    nodes = list(shuffled.graph.node)
    np.random.default_rng(0).shuffle(nodes)  # onnxslim reorders nodes; ONNX only asks for a valid order when run
    del shuffled.graph.node[:]
    shuffled.graph.node.extend(nodes)
    onnx.save(shuffled, tmp_path / "shuffled.onnx")
    assert map_graph(load_graph(tmp_path / "shuffled.onnx")).values == map_graph(load_graph(graphs["static"])).values


@pytest.mark.parametrize(
    ("runtime", "source", "graph"),
    [
        ("onnxruntime", "ones", "static"),
        ("onnxruntime", "random", "plain"),
        ("onnxruntime", "bus", "dynamic"),  # bus.jpg letterboxes to a 320×256 rectangle: a dynamic graph takes it
        ("openvino", "ones", "static"),
        ("openvino", "random", "ours"),
        ("openvino", "bus", "dynamic"),
    ],
)
def test_runtime_passes_the_default_rule(runtime, source, graph, graphs, ours, references, tmp_path):
    path = ours[1] if graph == "ours" else graphs[graph]
    candidate = GraphCandidate.open(path, runtime)
    spec = SPEC.but(input={"ones": "ones", "random": "random:0", "bus": BUS}[source])
    dumped = candidate.dump(tmp_path / "candidate.safetensors", spec)
    report = diff_dumps(references[source], dumped)
    assert report.passed, [(row.name, row.max_abs, row.limit) for row in report.layers if not row.passed]
    assert report.missing == [] and report.layers[0].name == "input" and report.layers[0].passed
    assert report.detections.matched + report.detections.at_cut == report.detections.total == 300
    assert all(row.rule == "floor" for row in report.layers[1:])
    meta = read_dump_metadata(dumped)
    assert meta["producer"].startswith(runtime) and meta["fused"] == "true" and meta["scale"] == "n"
    assert json.loads(meta["no_counterpart"]) == {}  # depth 1: every reference key has its value
    assert set(json.loads(meta["onnx_nodes"])) == set(DEPTH_1)
    if runtime == "openvino":
        assert meta["inference_precision"] == "f32"  # never the CPU plugin's bf16 default
    assert candidate.attach_isolated(report, references[source]) == 25
    assert all(row.isolated_passed for row in report.layers[1:])


def test_depth_all_and_within(graphs, fused_all, tmp_path):
    spec = SPEC.but(input="random:0", depth=None)
    candidate = GraphCandidate.open(graphs["static"], "onnxruntime")
    report = diff_dumps(fused_all, candidate.dump(tmp_path / "all.safetensors", spec))
    assert report.passed and set(report.missing) == IDENTITY_ACTS
    absent = json.loads(read_dump_metadata(tmp_path / "all.safetensors")["no_counterpart"])
    assert set(absent) >= IDENTITY_ACTS and "BatchNorm folded into model.0.conv" in absent["model.0.bn"]
    assert "3×3 branch" in absent["model.22.m.0.cv1.2.conv1"]
    assert any("no counterpart" in line for line in candidate.notes)
    inside = candidate.dump(tmp_path / "13.safetensors", spec.but(within="model.13"))
    order = json.loads(read_dump_metadata(inside)["order"])
    assert order[0] == "input" and order[-1] == "model.13" and all(k.startswith("model.13.") for k in order[1:-1])
    head = candidate.dump(tmp_path / "23.safetensors", spec.but(within="model.23"))
    assert json.loads(read_dump_metadata(head)["order"])[-2:] == ["model.23", "detections"]


def test_open_session_runs_the_graph_as_it_is(graphs, references):
    with DumpReader(references["ones"]) as reader:
        images, expected = reader.get("input").astype(np.float32), reader.get("detections")
    for runtime in RUNTIMES:
        (detections,) = open_session(graphs["static"], runtime)(images)  # what bench times: no outputs added
        assert detections.shape == expected.shape == (1, 300, 6)
        assert np.abs(detections[0, :10, 4] - expected[0, :10, 4]).max() < 1e-4  # the top scores, by the reference


def test_static_graph_letterboxes_an_image_to_its_square(graphs, tmp_path):
    candidate = GraphCandidate.open(graphs["static"], "onnxruntime")
    dumped = candidate.dump(tmp_path / "bus.safetensors", SPEC.but(input=BUS))
    square = make_input(SPEC.but(input=BUS, square=True)).spec
    assert read_dump_metadata(dumped)["input"] == square and square.endswith("1x3x320x320")
    assert any("--square" in line for line in candidate.notes)


# --- planted graph bugs: caught, at the right layer, and named by drill and isolated error -----------------------


def _scale_weight(model: onnx.ModelProto) -> None:
    """One conv weight initializer of model.13 ×1.001."""
    conv = next(n for n in model.graph.node if n.op_type == "Conv" and n.name.startswith("/model.13/cv1/"))
    weight = next(t for t in model.graph.initializer if t.name == conv.input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(1.001), weight.name))


def _hard_sigmoid(node_name: str):
    def plant(model: onnx.ModelProto) -> None:
        node = next(n for n in model.graph.node if n.name == node_name)
        node.op_type = "HardSigmoid"  # what a port with a "fast sigmoid" does

    return plant


BUGS = {
    "conv-weight": (_scale_weight, "model.13", "model.13.cv1.conv"),
    "silu-sigmoid": (_hard_sigmoid("/model.13/m.0/cv1/act/Sigmoid"), "model.13", "model.13.m.0.cv1.act"),
    "class-sigmoid": (_hard_sigmoid("/model.23/Sigmoid"), "model.23/scores", "model.23/scores"),
}


@pytest.fixture(scope="module")
def planted(graphs, weights, tmp_path_factory):
    """check --candidate BUGGY.onnx --drill on random:0, once per bug (weights export and reference dump shared).
    The dynamic graph runs at 160, where the reference's float64 twin and the drill-downs cost a quarter of 320."""
    folder = tmp_path_factory.mktemp("planted")
    results = {}

    def check(bug: str):
        if bug not in results:
            model = onnx.load(graphs["dynamic"])
            BUGS[bug][0](model)
            path = folder / f"{bug}.onnx"
            onnx.save(model, path)
            spec = RunSpec(input="random:0", imgsz=160)
            results[bug] = run_check(weights, folder / "work", spec, candidate=str(path), drill=True, reuse=True)
        return results[bug]

    return check


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_graph_bug_is_pinned_and_drilled(bug, planted):
    _, first, drilled = BUGS[bug]
    result = planted(bug)
    report = result.report
    assert not report.passed and report.first_failure == first
    assert report.culprit == first  # the failing layer's own (isolated) error is wrong too
    assert report.drill is not None and report.drill.culprit == drilled
    assert result.candidate == "onnxruntime" and report.candidate_meta["producer"].startswith("onnxruntime")


def test_isolated_error_separates_the_bug_from_what_it_passes_on(planted):
    rows = {row.name: row for row in planted("conv-weight").report.layers}
    assert all(rows[f"model.{i}"].passed and rows[f"model.{i}"].isolated_passed for i in range(13))
    assert rows["model.13"].isolated_passed is False
    downstream = [rows[f"model.{i}"] for i in range(14, 23)] + [rows["model.23/boxes"], rows["model.23/scores"]]
    assert all(row.isolated_passed for row in downstream)  # fed the reference's inputs, each layer is right
    assert sum(not row.passed for row in downstream) >= 8  # …yet chained, the error model.13 passes on fails them


def test_class_score_bug_fails_at_scores_without_detections(planted, tmp_path):
    files = planted("class-sigmoid").files
    tensors = load_file(files["candidate"])
    meta = read_dump_metadata(files["candidate"])
    del tensors["detections"]
    meta["order"] = json.dumps([k for k in json.loads(meta["order"]) if k != "detections"])
    save_file(tensors, tmp_path / "no-detections.safetensors", metadata=meta)
    report = diff_dumps(files["reference"], tmp_path / "no-detections.safetensors")
    assert report.detections is None and report.first_failure == "model.23/scores"


def test_model_explorer_node_data(planted, graphs, references, tmp_path):
    report = planted("conv-weight").report
    data = json.loads(render_model_explorer(report))
    assert set(data) == {"results"}
    names = {node.name for node in onnx.load(graphs["dynamic"]).graph.node}
    assert set(data["results"]) <= names  # keyed by ONNX node names: Model Explorer's ONNX adapter's node ids
    for result in data["results"].values():  # GraphNodeData's NodeDataResult: a number, CSS colours
        assert set(result) <= {"value", "bgColor", "textColor"} and isinstance(result["value"], float)
    nodes = json.loads(report.candidate_meta["onnx_nodes"])
    assert data["results"][nodes["model.12"]]["bgColor"] == PASS_COLOUR
    assert data["results"][nodes["model.13"]]["bgColor"] == FAIL_COLOUR
    assert data["results"]["/model.13/cv1/conv/Conv"]["bgColor"] == FAIL_COLOUR  # the drill's deeper rows
    plain = json.loads(render_model_explorer(diff_dumps(references["ones"], references["ones"])))
    assert "model.13" in plain["results"]  # no ONNX node names recorded: keyed by module path (tests/test_newcomer)


# --- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("graph", "fragments"),
    [
        ("one2many", ("one-to-many head", "1×84×2100", "nms=False")),
        ("nms", ("NMS export", "nms=False")),
        ("renamed", ("no module paths", "yolo10port onnx")),
    ],
)
def test_graph_refused_with_one_line(graph, fragments, graphs, tmp_path):
    out = tmp_path / "dump.safetensors"
    result = run_cli("run", graphs[graph], "-o", out)
    assert_input_error(result, str(graphs[graph]), *fragments)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_graph_refused_for_other_weights_and_sizes(graphs, weights, tmp_path):
    mine = read_weights(weights)
    files = {"weights": tmp_path / "n.safetensors"}
    static = str(graphs["static"])
    other_nc = dataclasses.replace(mine, nc=20)
    with pytest.raises(InputError, match="80 classes"):
        graph_candidate(static, other_nc, files, SPEC)
    state = dict(mine.state_dict)
    state["model.0.conv.weight"] = state["model.0.conv.weight"].flip(0)  # same shapes, other weights
    with pytest.raises(InputError, match="cosine"):
        graph_candidate(static, dataclasses.replace(mine, state_dict=state), files, SPEC)
    with pytest.raises(InputError, match="--dynamic") as error:
        graph_candidate(static, mine, files, SPEC.but(imgsz=640))
    assert error.value.where == "--imgsz"
    with pytest.raises(InputError, match="--square"):
        graph_candidate(static, mine, files, SPEC.but(input=BUS))  # the reference takes the 320×256 rectangle
    planted = onnx.load(static)  # a 1.001 bug in model.0 is a bug to find, not other weights
    conv = next(n for n in planted.graph.node if n.name == "/model.0/conv/Conv")
    weight = next(t for t in planted.graph.initializer if t.name == conv.input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(1.001), weight.name))
    onnx.save(planted, tmp_path / "model0.onnx")
    assert graph_candidate(str(tmp_path / "model0.onnx"), mine, files, SPEC).fused


# --- yolo10port onnx ------------------------------------------------------------------------------------------------


def test_onnx_command_exports_what_ultralytics_exports(ours, graphs):
    result, path = ours
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout and f"ONNX graph → {path}" in result.stdout
    mine, theirs = onnx.load(path), onnx.load(graphs["static"])
    assert [n.name for n in mine.graph.node] == [n.name for n in theirs.graph.node]
    weights = {t.name: numpy_helper.to_array(t) for t in theirs.graph.initializer}
    assert all(np.array_equal(numpy_helper.to_array(t), weights[t.name]) for t in mine.graph.initializer)
    assert not list(path.parent.glob(".*partial"))


def test_check_exports_a_dynamic_graph_for_openvino(weights, references, tmp_path):
    work = check_folder(weights, tmp_path, references["bus"])
    result = run_check(weights, work, SPEC.but(input=BUS), candidate="openvino", reuse=True)
    assert result.report.passed and result.candidate == "openvino"
    (graph,) = tmp_path.glob("yolov10n-nc80-seed0-*-dynamic.onnx")  # named by weights digest, size and shape
    assert not map_graph(load_graph(graph)).static  # bus.jpg is a rectangle
    assert result.report.isolated and result.report.culprit is None
