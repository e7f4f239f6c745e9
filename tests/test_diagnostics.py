"""Diagnostics: isolated vs chained error, drill-down, the float64 noise floor, and the mutation self-test."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli, scale_params
from yolo10port.candidates.clean import dump_model, load_clean_model
from yolo10port.compare.rules import K
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.workflows.check import run_check
from yolo10port.workflows.selftest.mutations import MUTATIONS
from yolo10port.workflows.selftest.run import INPUT_KINDS, bundled_image, run_selftest

BY_NAME = {m.name: m for m in MUTATIONS}
RANDOM = RunSpec(input="random:0")
# Measured: what a flat, grey, square all-ones image cannot show (README, "What all-ones cannot see").
ALL_ONES_BLIND_SPOTS = {"rgb-bgr", "hw-transpose"}


# 320 in CI: what each input can and cannot show does not hang on the size (flat grey ones, noise, a photo), and it
# costs a quarter of 640, the size README's blind-spot table was measured at (extended; `make calibrate`: 640).
@pytest.fixture(scope="module", params=[320, pytest.param(640, marks=pytest.mark.extended)])
def selftest(make_fixture, request):
    inputs = {kind: spec or bundled_image() for kind, spec in INPUT_KINDS.items()}
    return run_selftest(make_fixture("n"), "n", inputs, imgsz=request.param)


def test_unmutated_model_passes_on_every_input(selftest):
    assert selftest.baseline == {"ones": True, "random": True, "image": True}


def test_every_mutation_is_caught_by_some_input(selftest):
    assert set(selftest.outcomes) == set(BY_NAME)
    assert selftest.missed == []
    assert selftest.passed


def test_all_ones_blind_spots_are_exactly_the_documented_ones(selftest):
    assert set(selftest.blind_spots("ones")) == ALL_ONES_BLIND_SPOTS
    assert selftest.blind_spots("random") == [] and selftest.blind_spots("image") == []


@pytest.mark.parametrize(
    ("mutation", "culprit"),
    [
        ("attn-no-scale", "model.10"),
        ("sppf-zero-pad", "model.9"),
        ("repvggdw-no-3x3", "model.22"),
        ("dfl-off-by-one", "model.23/boxes"),
        ("rgb-bgr", "model.0"),
    ],
)
def test_isolated_error_names_the_wrong_layer(mutation, culprit, selftest):
    outcome = selftest.outcomes[mutation]["random"]
    assert outcome.caught and outcome.culprit == culprit, outcome


def test_planted_psa_bug_chained_isolated_and_drill(make_fixture):
    report = run_check(make_fixture("n"), spec=RANDOM, mutate=BY_NAME["attn-no-scale"].plant, drill=True)
    rows = {row.name: row for row in report.report.layers}
    layers = [f"model.{i}" for i in range(23)] + ["model.23/boxes", "model.23/scores"]
    # Chained: clean up to model.9, wrong from model.10 on (the error is carried to every later layer).
    assert all(rows[name].passed for name in layers[:10])
    assert not any(rows[name].passed for name in ("model.10", "model.13", "model.16", "model.22", "model.23/scores"))
    # Isolated: only model.10 is wrong in itself.
    assert [name for name in layers if not rows[name].isolated_passed] == ["model.10"]
    assert report.report.culprit == "model.10"
    drill = report.report.drill
    assert drill is not None and drill.culprit == "model.10.attn"
    inside = {row.name: row for row in drill.layers}
    assert inside["model.10.attn.qkv"].isolated_passed and inside["model.10.attn.proj"].isolated_passed
    assert not inside["model.10.attn.proj"].passed  # chained: proj receives the wrong attention


def test_unmutated_isolated_error_is_zero_unfused(make_fixture):
    report = run_check(make_fixture("n"), spec=RANDOM).report
    assert report.passed and report.isolated
    assert all(row.isolated_max_abs == 0.0 for row in report.layers if row.rule != "input")


@pytest.mark.parametrize("scale", scale_params())  # b, l, x: extended
def test_floor_rule_passes_the_fused_clean_model(scale, make_fixture):
    """random:0 is where the fixed 1e-4 rule cried wolf on the fused model; the floor rule follows the input."""
    # m stands for the large scales in CI: its architecture, in a quarter the time.
    spec = RANDOM.but(imgsz=320) if scale == "m" else RANDOM
    report = run_check(make_fixture(scale), spec=spec, fuse=True).report
    assert report.passed, report.first_failure
    assert report.tolerance["mode"] == "floor"
    numeric = [row for row in report.layers if row.rule != "input"]
    assert all(row.rule == "floor" and row.floor_multiple <= K for row in numeric)
    assert max(row.max_abs for row in numeric) > 0.0  # fusion really changed the arithmetic
    assert report.detections.passed and report.detections.matched + report.detections.at_cut == 300


def test_bfloat16_candidate_reports_the_budget_it_would_need(make_fixture):
    # Judged by the float32 floor on purpose: by default a bfloat16 candidate is judged by the bfloat16 floor
    # (tests/test_precision.py).
    report = run_check(make_fixture("n"), spec=RANDOM.but(dtype="bfloat16"), precision="float32").report
    assert not report.passed
    assert max(row.floor_multiple for row in report.layers if row.floor_multiple is not None) > 100 * K
    assert "bfloat16" in report.hint


def test_diff_drill_on_two_depth_all_dumps(make_fixture, tmp_path):
    """A foreign port's depth-all dump: `diff --drill` lists the failing layer's submodules (chained only)."""
    path = make_fixture("n")
    reference, candidate = tmp_path / "ref.safetensors", tmp_path / "cand.safetensors"
    dump_reference(path, reference, RANDOM.but(depth=None))
    model, weights = load_clean_model(path)
    BY_NAME["attn-no-scale"].plant(model, weights.state_dict)
    dump_model(model, weights.source_sha256, candidate, RANDOM.but(depth=None))
    result = run_cli("diff", reference, candidate, "--drill", "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["first_failure"] == "model.10.attn.proj.conv"
    drilled = report["comparisons"][0]["drill"]["layers"]
    assert drilled[-1]["name"] == "model.10" and all(row["name"].startswith("model.10") for row in drilled)
    assert report["comparisons"][0]["drill"]["first_failure"] == "model.10.attn.proj.conv"


def test_check_cli_shows_isolated_column_and_drill(make_fixture, tmp_path):
    result = run_cli("check", make_fixture("n"), "--input", "random:0", "--drill")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "isolated" in result.stdout and "× floor" in result.stdout and "margin" in result.stdout
