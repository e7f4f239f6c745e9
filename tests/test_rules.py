"""The comparing rules: the noise floor travels with the reference, the head is judged in two parts, the input is
checked, missing keys are listed (not failed), and known failure patterns get a hint."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from tests.conftest import assert_input_error, run_cli
from yolo10port.candidates.clean import dump_clean
from yolo10port.compare import diff_dumps
from yolo10port.compare.input_check import round_to_bfloat16
from yolo10port.compare.rules import EPS, K_MEAN, K, eps_scale
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.workflows.check import run_check
from yolo10port.workflows.selftest.mutations import MUTATIONS, WEIGHT_MUTATIONS
from yolo10port.workflows.selftest.run import bundled_image, run_selftest

RANDOM = RunSpec(input="random:0")


@pytest.fixture(scope="module")
def dumps(make_fixture, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    model = make_fixture("n")
    ref = dump_reference(model, folder / "ref.safetensors", RANDOM)
    clean = dump_clean(model, folder / "clean.safetensors", RANDOM)
    return {"model": model, "ref": ref, "clean": clean, "folder": folder}


def load(path):
    with safe_open(str(path), "np") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata())


def edited(dumps, name: str, edit, metadata_edit=lambda m: None):
    tensors, meta = load(dumps["clean"])
    edit(tensors)
    metadata_edit(meta)
    path = dumps["folder"] / f"{name}.safetensors"
    save_file(tensors, str(path), metadata=meta)
    return path


def rows(report):
    return {row.name: row for row in report.layers}


def test_floor_rule_is_the_default_and_names_its_limit(dumps):
    report = diff_dumps(dumps["ref"], dumps["clean"])
    assert report.passed and report.tolerance["mode"] == "floor" and report.tolerance["k"] == K
    for row in report.layers:
        if row.rule == "floor":
            assert row.limit == pytest.approx(K * max(row.floor, EPS * eps_scale(row.name, row.ref_max_abs)))
            assert row.mean_limit is not None and row.mean_limit >= K_MEAN * row.mean_floor


def test_a_small_error_everywhere_fails_the_mean_test(dumps):
    """An offset under the max-abs limit in every element: no single element stands out, yet rounding never moves
    a whole tensor like that (a weight off by a fraction of a percent does)."""
    limit = {row.name: row.limit for row in diff_dumps(dumps["ref"], dumps["clean"]).layers}["model.7"]

    def offset(t):
        t["model.7"] = (t["model.7"] + 0.9 * limit).astype(np.float32)

    report = diff_dumps(dumps["ref"], edited(dumps, "offset", offset))
    row = rows(report)["model.7"]
    assert row.max_abs < row.limit and not row.passed and "small error everywhere" in row.reason
    assert report.first_failure == "model.7"


def test_reference_without_floor_falls_back_to_the_fixed_rule_and_says_so(dumps, make_fixture):
    bare = dump_reference(make_fixture("n"), dumps["folder"] / "bare.safetensors", RANDOM, floor=False)
    report = diff_dumps(bare, dumps["clean"])
    assert {row.rule for row in report.layers} == {"input", "fixed"}
    assert any("no noise floor" in note for note in report.notes)


def test_decoded_head_is_two_rows_and_a_class_score_bug_fails_without_detections(dumps):
    def bug(t):
        t["model.23"] = t["model.23"].copy()
        t["model.23"][:, 4 + 7] += 0.03  # class 7's scores, everywhere
        del t["detections"]

    report = diff_dumps(dumps["ref"], edited(dumps, "scores", bug))
    by_name = rows(report)
    assert by_name["model.23/boxes"].passed and not by_name["model.23/scores"].passed
    assert report.first_failure == "model.23/scores" and "detections" in report.missing
    selected = diff_dumps(dumps["ref"], edited(dumps, "scores", bug), layers="model.23")
    assert [row.name for row in selected.layers if row.rule != "input"] == ["model.23/boxes", "model.23/scores"]
    assert not selected.passed


def test_layer_23_selects_both_head_rows_and_detections(dumps):
    report = diff_dumps(dumps["ref"], dumps["clean"], layers="23")
    assert [row.name for row in report.layers] == ["input", "model.23/boxes", "model.23/scores"]
    assert report.detections is not None


def test_a_different_input_fails_with_its_reason(dumps):
    def halve(t):
        t["input"] = t["input"].copy()
        t["input"][:, 0] *= 0.5

    report = diff_dumps(dumps["ref"], edited(dumps, "halved", halve))
    assert report.first_failure == "input" and "differs" in rows(report)["input"].reason
    assert "not fed the reference's input" in report.hint
    bgr = diff_dumps(dumps["ref"], edited(dumps, "bgr", lambda t: t.update(input=t["input"][:, ::-1].copy())))
    assert "BGR" in rows(bgr)["input"].reason
    nhwc = diff_dumps(dumps["ref"], edited(dumps, "nhwc", lambda t: t.update(input=t["input"].transpose(0, 2, 3, 1))))
    assert "NHWC" in rows(nhwc)["input"].reason


def test_missing_input_tensor_or_metadata_fails_unless_forced(dumps, tmp_path):
    no_tensor = edited(dumps, "no-input", lambda t: t.pop("input"))
    assert diff_dumps(dumps["ref"], no_tensor).first_failure == "input"
    assert diff_dumps(dumps["ref"], no_tensor, force=True).passed
    no_meta = edited(dumps, "no-meta", lambda t: None, lambda m: m.pop("input"))
    report = diff_dumps(dumps["ref"], no_meta)
    assert report.first_failure == "input" and "no 'input' entry" in rows(report)["input"].reason
    assert diff_dumps(dumps["ref"], no_meta, force=True).passed


def test_partial_candidate_passes_listing_what_it_lacks_and_fails_when_required(dumps):
    keep = {"input", *(f"model.{i}" for i in range(10))}
    partial = edited(dumps, "partial", lambda t: [t.pop(k) for k in list(t) if k not in keep])
    report = diff_dumps(dumps["ref"], partial)
    assert report.passed and "model.10" in report.missing and "detections" in report.missing
    result = run_cli("diff", dumps["ref"], partial)
    assert result.returncode == 0 and "not in candidate" in result.stdout
    assert not diff_dumps(dumps["ref"], partial, require="all").passed
    assert diff_dumps(dumps["ref"], partial, require="model.10").first_failure == "model.10"
    assert diff_dumps(dumps["ref"], partial, require="model.5").passed


def test_extra_keys_are_ignored_and_listed(dumps):
    extra = edited(dumps, "extra", lambda t: t.update({"/model.0/conv/Conv_output_0": t["model.0"]}))
    report = diff_dumps(dumps["ref"], extra)
    assert report.passed and report.ignored == ["/model.0/conv/Conv_output_0"]


def test_a_diff_that_compares_nothing_exits_2(dumps):
    nothing = edited(dumps, "nothing", lambda t: [t.pop(k) for k in list(t) if k != "input"])
    assert_input_error(run_cli("diff", dumps["ref"], nothing), "nothing to compare")


def _round_mantissa(array: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 to `bits` explicit mantissa bits (10 = TF32), to nearest."""
    raw = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    drop = 23 - bits
    rounded = ((raw + (1 << (drop - 1))) >> drop) << drop
    return rounded.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("rounding", ["tf32", "bfloat16"])
def test_reduced_precision_signature_gets_the_tf32_hint(rounding, dumps):
    """Every tensor of a float32 dump rounded through TF32 or bfloat16: ~1e-3 at every layer, the TF32 signature."""
    through = (lambda a: _round_mantissa(a, 10)) if rounding == "tf32" else round_to_bfloat16

    def degrade(t):
        for key in list(t):
            if key.startswith("model."):
                t[key] = through(t[key])

    report = diff_dumps(dumps["ref"], edited(dumps, rounding, degrade, lambda m: m.pop("producer")))
    assert not report.passed and report.first_failure == "model.0"
    assert "TF32" in report.hint, report.hint


def test_fused_candidate_at_depth_all_is_compared_by_meaning(make_fixture, tmp_path):
    """An unfused reference against a fused candidate, every module: no false alarm from folded BatchNorms."""
    model = make_fixture("n")
    ref = dump_reference(model, tmp_path / "ref.safetensors", RANDOM.but(depth=None))
    fused = dump_clean(model, tmp_path / "fused.safetensors", RANDOM.but(depth=None), fuse=True)
    report = diff_dumps(ref, fused)
    assert report.passed, report.first_failure
    assert "model.0.bn" in rows(report) and "model.0.conv" in report.not_comparable
    assert any("fused" in note for note in report.notes)


def test_depth_1_candidate_against_depth_all_reference_names_the_right_layer(make_fixture, tmp_path):
    model = make_fixture("n")
    ref = dump_reference(model, tmp_path / "ref.safetensors", RANDOM.but(depth=None))
    weights_bug = next(m for m in WEIGHT_MUTATIONS if m.name.endswith("model.13"))
    report = run_check(model, tmp_path / "work", RANDOM, mutate=weights_bug.plant).report
    assert report.first_failure == "model.13"
    candidate = tmp_path / "work" / f"{model.stem}.candidate.safetensors"
    deep = diff_dumps(ref, candidate)
    assert deep.first_failure == "model.13" and any("depths differ" in note for note in deep.notes)
    result = run_cli("diff", ref, candidate, "--format", "json")
    assert result.returncode == 1 and json.loads(result.stdout)["first_failure"] == "model.13"


# The CI slice of the one-weight bugs: the first layer, the deepest, the attention, and layers of each kind
# (`make calibrate` runs all 23 on the six scales).
WEIGHT_SLICE = [m for m in WEIGHT_MUTATIONS if m.first in {"model.0", "model.9", "model.10", "model.13", "model.22"}]


def test_no_false_alarm_and_no_miss_on_n(make_fixture):
    """The CI slice of `make calibrate`: the fused clean model passes on zeros and both photos; the planted bugs,
    one-weight slips included, are caught on random:0 and bus.jpg in the layer they are in."""
    inputs = {"zeros": "zeros", "random:0": "random:0", "bus.jpg": bundled_image("bus.jpg")}
    inputs["zidane.jpg"] = bundled_image("zidane.jpg")
    result = run_selftest(
        make_fixture("n"),
        "n",
        inputs,
        MUTATIONS + WEIGHT_SLICE,
        honest=("clean-fused",),
        mutation_inputs=("random:0", "bus.jpg"),
        isolated=False,
    )
    assert result.false_alarms == []
    for kind in ("random:0", "bus.jpg"):
        wrong = [(name, row[kind].first_failure) for name, row in result.outcomes.items() if not row[kind].right_layer]
        assert wrong == [], (kind, wrong)
