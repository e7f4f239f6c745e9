"""`yolo10port spec`: the porter's specification is read from the network ultralytics builds, on every scale, and
its key list is exactly what `dump --depth all --with-inputs` writes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, assert_input_error, run_cli, scale_params
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.reference.spec import build_spec, subtree
from yolo10port.reference.spec_markdown import render_markdown
from yolo10port.weights.reader import read_weights

IMGSZ = 64  # anchors 64 + 16 + 4 = 84; every module still runs
SHAPES_DETECTOR = ROOT / "detector" / "yolov10n-shapes.pt"  # trained, 3 classes


def by_path(spec: dict) -> dict[str, dict]:
    return {entry["path"]: entry for entry in spec["modules"]}


@pytest.mark.parametrize("scale", scale_params())  # b, l, x: extended
def test_spec_of_every_scale_is_read_from_the_built_network(make_fixture, scale):
    path = make_fixture(scale)
    spec = build_spec(path, IMGSZ)
    modules = by_path(spec)
    assert (spec["scale"], spec["nc"], spec["imgsz"]) == (scale, 80, IMGSZ)

    # the head: layout, and every rule checked on ultralytics' own run
    head = spec["head"]
    assert head["decoded_shape"] == [1, 84, 84] and head["detections_shape"] == [1, 84, 6]
    assert [level["anchors"] for level in head["levels"]] == [64, 16, 4] and head["strides"] == [8.0, 16.0, 32.0]
    assert all(value is True for value in head["checked_on_this_run"].values() if isinstance(value, bool))
    assert head["checked_on_this_run"]["anchor_offset_measured"] == [0.5, 0.5]
    probe = head["topk"]["checked_on_ultralytics_postprocess"]
    assert probe["matches_stated_rule"] and probe["one_anchor_can_give_several_detections"]
    assert probe["sorted_by_score_descending"] and probe["rows_when_max_det_exceeds_anchors"] == 84
    assert modules["model.23.dfl"]["hyperparameters"]["bins"] == 16
    assert modules["model.23.dfl"]["hyperparameters"]["conv_weight_is_arange"] is True

    # what source and YAML get wrong or leave out
    assert modules["model.9.cv1"]["hyperparameters"]["activation"] == "SiLU"  # block.py says act=False
    assert modules["model.5.cv2"]["hyperparameters"]["activation"] == "Identity"
    assert [call["key"] for call in modules["model.9.m"]["calls"]] == ["model.9.m", "model.9.m#1", "model.9.m#2"]
    attn = modules["model.10.attn"]["hyperparameters"]
    assert attn["num_heads"] * attn["head_dim"] == modules["model.10"]["hyperparameters"]["c"]
    assert attn["key_dim"] * 2 == attn["head_dim"] and attn["scale"] == pytest.approx(attn["key_dim"] ** -0.5)
    assert modules["model.11"]["hyperparameters"]["mode"] == "nearest"
    assert modules["model.11"]["hyperparameters"]["scale_factor"] == 2.0
    assert modules["model.12"]["layer"]["from"] == ["model.11", "model.6"]
    assert modules["model.21"]["layer"]["from"] == ["model.20", "model.10"]
    assert modules["model.23"]["layer"]["from"] == ["model.16", "model.19", "model.22"]
    norms = [m["hyperparameters"] for m in spec["modules"] if m["type"] == "BatchNorm2d"]
    assert norms and all((bn["eps"], bn["momentum"]) == (0.001, 0.03) for bn in norms)
    assert any(m["type"] == "RepVGGDW" for m in spec["modules"]) == (scale in "ns")  # the large kernel: n, s only
    assert {"stride": [2, 2], "padding": [1, 1], "groups": 1}.items() <= modules["model.0.conv"][
        "hyperparameters"
    ].items()

    # every checkpoint tensor is some module's own, with its shape; nothing else is listed
    tensors = {key: shape for m in spec["modules"] for key, shape in m["parameters"].items()}
    state = read_weights(path).state_dict
    assert tensors == {key: list(t.shape) for key, t in state.items()}

    # every key belongs to a module that ran; every module that ran has a key
    keys = spec["keys"]
    ran = {m["path"] for m in spec["modules"] if m["calls"]}
    assert {entry["key"].split("/")[0].partition("#")[0] for entry in keys["outputs"]} - ran == {"input", "detections"}
    assert not any(path.startswith(("model.23.cv2", "model.23.cv3")) for path in ran)  # the one-to-many head


@pytest.mark.parametrize("which", ["fixture-n", "shapes-detector-nc3"])
def test_spec_key_list_is_what_dump_writes(make_fixture, tmp_path, which):
    path = make_fixture("n") if which == "fixture-n" else SHAPES_DETECTOR
    spec = build_spec(path, IMGSZ)
    dump = dump_reference(path, tmp_path / "ref.safetensors", RunSpec(imgsz=IMGSZ, depth=None, with_inputs=True),
                          floor=False)  # fmt: skip
    from safetensors import safe_open

    with safe_open(dump, "np") as written:
        order = json.loads(written.metadata()["order"])
        shapes = {key: list(written.get_slice(key).get_shape()) for key in order}
    listed = spec["keys"]["outputs"] + spec["keys"]["inputs"]
    assert sorted(entry["key"] for entry in listed) == sorted(order)
    assert [e["key"] for e in spec["keys"]["outputs"]] == [k for k in order if "@input" not in k]
    assert all(shapes[entry["key"]] == entry["shape"] for entry in listed)
    nc = 3 if "nc3" in which else 80
    assert spec["nc"] == nc and spec["head"]["decoded_shape"] == [1, 4 + nc, 84]
    assert shapes["model.23.dfl.conv"] == [1, 1, 4, 84]

    # the Markdown form: one section per module, with what a porter copies from it
    text = render_markdown(subtree(spec, "model.10"))
    assert "### `model.10.attn` · Attention" in text and "### `model.9" not in text
    assert "num_heads = 2, head_dim = 64, key_dim = 32, scale = 0.1767766953" in text
    assert "- call `model.10.attn`: (1, 128, 2, 2) → `model.10.attn` (1, 128, 2, 2)" in text


def test_spec_command_writes_json_of_one_subtree_and_refuses_with_one_line(make_fixture, tmp_path):
    model = make_fixture("n")
    out = tmp_path / "psa.json"
    written = run_cli("spec", model, "--imgsz", IMGSZ, "--format", "json", "--module", "model.10", "-o", out)
    assert written.returncode == 0, written.stderr
    document = json.loads(out.read_text())
    assert document["format"] == "yolo10port-spec/1"
    paths = [entry["path"] for entry in document["modules"]]
    assert paths[0] == "model.10" and all(p.startswith("model.10.") for p in paths[1:]) and len(paths) > 30
    assert all(entry["key"].startswith("model.10") for entry in document["keys"]["outputs"])
    assert_input_error(run_cli("spec", model, "--imgsz", "65"), "--imgsz")
    assert_input_error(run_cli("spec", model, "--format", "xml"), "--format")
    assert_input_error(run_cli("spec", tmp_path / "missing.pt"), "missing.pt")
    assert_input_error(run_cli("spec", model, "--imgsz", IMGSZ, "--module", "model.99"), "--module", "model.99")
    assert list(tmp_path.iterdir()) == [out]  # no partial output from the refused runs
