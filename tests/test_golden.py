"""Golden summaries: ultralytics' numerics on the six fixtures must not drift from the committed statistics."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, scale_params
from yolo10port.dumps.spec import RunSpec
from yolo10port.dumps.summary import compare_summaries
from yolo10port.reference.dump import dump_reference

GOLDEN = ROOT / "reference_dumps"


def summarise(model, tmp_path, input_spec="ones") -> dict:
    summary = tmp_path / "now.summary.json"
    dump_reference(model, tmp_path / "now.safetensors", RunSpec(input=input_spec), summary=summary, floor=False)
    return json.loads(summary.read_text())


@pytest.mark.parametrize("scale", scale_params())  # b, l, x: extended (make golden-summaries builds all six)
def test_reference_numerics_match_golden_summary(scale, make_fixture, tmp_path):
    golden = json.loads((GOLDEN / f"yolov10{scale}-fixture.summary.json").read_text())
    now = summarise(make_fixture(scale), tmp_path)
    assert (now["input"], now["dtype"], now["head"]) == (golden["input"], golden["dtype"], golden["head"])
    problems = compare_summaries(golden, now)
    drifted = f"ultralytics numerics drifted from {scale}'s golden summary (make golden-summaries):\n"
    assert not problems, drifted + "\n".join(problems)


def test_drift_is_caught(make_fixture, tmp_path):
    """Another input stands in for changed numerics: the comparison must flag it, layer by layer."""
    golden = json.loads((GOLDEN / "yolov10n-fixture.summary.json").read_text())
    problems = compare_summaries(golden, summarise(make_fixture("n"), tmp_path, "random:0"))
    flagged = {line.split(":")[0] for line in problems}
    assert {"model.0", "model.10", "model.22"} <= flagged


def test_summary_rows_are_exact_about_keys_and_shapes():
    golden = json.loads((GOLDEN / "yolov10s-fixture.summary.json").read_text())
    changed = json.loads(json.dumps(golden))
    del changed["layers"]["model.5"]
    changed["layers"]["model.7"]["shape"] = [1, 2, 3]
    changed["layers"]["model.9"]["mean"] += 2e-3 * golden["layers"]["model.9"]["max_abs"]
    problems = compare_summaries(golden, changed)
    assert [p.split(":")[0] for p in problems] == ["model.5", "model.7", "model.9"]
    assert compare_summaries(golden, golden) == []
