"""What the calibration matrices of issues 22 and 23 found, each finding held by a test.

- A bug the checker does not catch is a miss only if it moved its layer further than float32 rounding does. A
  YOLOv10s trained two epochs on the shapes has an inert attention (logits within 2e-4 of each other: the softmax is
  uniform whatever its scale), so the attention-scale bugs move model.10 by 1e-8, 0.007 floors, on every input.
  `selftest` now measures an uncaught bug's own effect in float64 and reports it as below the noise, never as a
  silent pass and never as a checker miss; a visible bug left uncaught is still a miss.
- The hint confusion table on bus.jpg: H and W transposed on a non-square input changes model.0's shape, and the
  hint that owns that bug was silent.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import torch

from tests.conftest import run_cli
from yolo10port.candidates.clean import dump_model, load_clean_model
from yolo10port.compare import diff_dumps
from yolo10port.compare.hints import firing
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.workflows.selftest.mutations import MUTATIONS, hw_transpose
from yolo10port.workflows.selftest.run import Outcome, SelftestResult, run_selftest

ATTENTION_BUGS = ("attn-no-scale", "attn-scale-head-dim")


def _inert_attention(source, out):
    """The checkpoint with model.10's queries and keys zeroed (their BatchNorm's scale and shift): every attention
    logit is 0, so the softmax is uniform and the attention's scale changes nothing, exactly."""
    checkpoint = torch.load(source, weights_only=False)  # our own fixture, built by the test session
    attention = checkpoint["model"].model[10].attn
    per_head = 2 * attention.key_dim + attention.head_dim
    with torch.no_grad():
        for head in range(attention.num_heads):
            queries_and_keys = slice(head * per_head, head * per_head + 2 * attention.key_dim)
            attention.qkv.bn.weight[queries_and_keys] = 0
            attention.qkv.bn.bias[queries_and_keys] = 0
    torch.save(checkpoint, out)
    return out


def test_a_bug_below_the_noise_is_reported_as_such_not_passed_and_not_missed(make_fixture, tmp_path):
    model = _inert_attention(make_fixture("n"), tmp_path / "inert-attention.pt")
    planted = [m for m in MUTATIONS if m.name in (*ATTENTION_BUGS, "qkv-across-heads")]
    result = run_selftest(
        model, "n", {"random:0": "random:0"}, planted, imgsz=64, honest=("clean",), isolated=False
    )  # fmt: skip
    for name in ATTENTION_BUGS:
        outcome = result.outcomes[name]["random:0"]
        assert not outcome.caught and outcome.effect == 0.0 and outcome.invisible
    # q/k/v cut across heads moves the values too: visible, and caught in its layer
    across = result.outcomes["qkv-across-heads"]["random:0"]
    assert across.right_layer and across.effect is None
    assert result.invisible == list(ATTENTION_BUGS) and result.missed == []
    assert result.below_noise("random:0") == result.blind_spots("random:0") == list(ATTENTION_BUGS)
    assert json.loads(result.to_json())["invisible"] == list(ATTENTION_BUGS)


def test_an_uncaught_bug_above_the_noise_is_still_a_miss():
    result = SelftestResult("n", {"random:0": "random:0", "bus.jpg": "bus.jpg"})
    quiet = Outcome(False, None, None, "300/300", expected="model.10", effect=0.4)
    loud = Outcome(False, None, None, "300/300", expected="model.10", effect=3.0)  # 3 floors, under the K=6 limit
    unmeasured = Outcome(False, None, None, "300/300", expected="model.10")
    caught = Outcome(True, "model.10", None, "300/300", expected="model.10", margin=20.0)
    result.outcomes = {
        "quiet-everywhere": {"random:0": quiet, "bus.jpg": quiet},
        "quiet-here-seen-there": {"random:0": quiet, "bus.jpg": caught},
        "quiet-here-loud-there": {"random:0": quiet, "bus.jpg": loud},
        "never-measured": {"random:0": unmeasured},
    }
    assert result.invisible == ["quiet-everywhere"]
    assert result.missed == ["quiet-here-loud-there", "never-measured"]
    assert not result.passed
    assert result.blind_spots("bus.jpg") == ["quiet-everywhere", "quiet-here-loud-there"]
    assert result.below_noise("random:0") == ["quiet-everywhere", "quiet-here-seen-there", "quiet-here-loud-there"]


def test_hw_transposed_on_a_non_square_image_is_named_though_the_shapes_differ(make_fixture, tmp_path):
    """The confusion table on bus.jpg (issue 22): letterboxed to a non-square input, a stem that reads the image as
    W×H makes model.0's shape the reference's with H and W exchanged; the stem-rearranged hint was silent there
    (it only read same-shape tensors) and now names the transpose, and no other hint fires."""
    fixture = make_fixture("n")
    spec = RunSpec(input="bus.jpg", imgsz=128)  # letterboxed to 128×96: not square (at 64 it pads to 64×64)
    reference = dump_reference(fixture, tmp_path / "reference.safetensors", spec)
    model, weights = load_clean_model(fixture)
    transposed = copy.deepcopy(model)
    hw_transpose(transposed, weights.state_dict)
    candidate = dump_model(transposed, weights.source_sha256, tmp_path / "hw.safetensors", spec)
    report = diff_dumps(reference, candidate)
    stem = next(row for row in report.layers if row.name == "model.0")
    assert stem.max_abs is None and "shape" in stem.reason  # a shape mismatch, not an elementwise comparison
    assert firing(report) == ["stem-rearranged"]
    shown = run_cli("diff", reference, candidate)
    assert shown.returncode == 1, shown.stderr
    assert "H and W transposed" in " ".join(shown.stdout.split())


def test_the_weight_sweep_stops_at_the_smallest_factor_caught(monkeypatch, tmp_path):
    """`selftest.sweep` (README, "Reduced precision": the smallest weight error caught per layer) tries the middle
    factor, then moves down while caught and up while missed: the smallest factor caught is what it reports."""
    from yolo10port.workflows.selftest import sweep as sweeping

    smallest_caught = {0: 1.003, 1: 1.01, 2: 1.03, 3: None}  # per layer: the truth the fake checker obeys
    calls = []

    def fake(_weights, _folder, _run, index, factor, _precision):
        calls.append((index, factor))
        caught = smallest_caught[index] is not None and factor >= smallest_caught[index]
        return caught, 2.0 if caught else 0.5, f"model.{index}" if caught else None

    monkeypatch.setattr(sweeping, "LAYERS", range(4))
    monkeypatch.setattr(sweeping, "_caught", fake)
    monkeypatch.setattr(sweeping, "read_weights", lambda path: path)
    result = sweeping.sweep(tmp_path, {"random:0": "random:0"}, [1.03, 1.003, 1.01], 64, "float16", tmp_path)
    found = {layer: row["random:0"]["smallest_caught"] for layer, row in result["layers"].items()}
    assert found == {f"model.{i}": factor for i, factor in smallest_caught.items()}
    assert len(calls) == 8  # two runs a layer
    assert "not at ×1.03 (0.50× of the limit)" in "\n".join(sweeping.table(result))


def test_a_probability_row_is_resolved_at_1_whatever_its_largest_score():
    """The trained YOLOv10s (two epochs) scores every anchor at ~4e-3: ONNX Runtime's sigmoid, exact to ~1 ulp of 1,
    sat at 1.001× of the limit on bus.jpg (1.13e-7 against 1.13e-7 = 6 · ε · max|ref|). A row of probabilities is
    computed with values up to 1, so ε applies to its magnitude taken as at least 1; other rows keep max|ref|."""
    import numpy as np

    from yolo10port.compare.engine import judge
    from yolo10port.compare.rules import EPS, K, Tolerances

    generator = np.random.default_rng(0)
    scores = (0.004 * generator.random((1, 3, 1344))).astype(np.float32)
    sigmoid_ulp = (scores + generator.uniform(-1.13e-7, 1.13e-7, scores.shape)).astype(np.float32)
    floor, mean_floor = 1.9e-8, 1.0e-9  # the reference's own float32 floors there (measured on the trained s)
    honest = judge("model.23/scores", "V10Detect", scores, sigmoid_ulp, Tolerances(), floor, mean_floor)
    assert honest.passed and honest.limit == K * EPS and honest.margin > 100
    as_a_feature_map = judge("model.22", "C2fCIB", scores, sigmoid_ulp, Tolerances(), floor, mean_floor)
    # a row computed at 4e-3 keeps ε · max|ref|: 200× narrower
    assert as_a_feature_map.limit == K * max(floor, EPS * float(np.abs(scores).max()))
    assert as_a_feature_map.limit < honest.limit / 100
    shifted = judge("model.23/scores", "V10Detect", scores, scores + np.float32(1e-4), Tolerances(), floor, mean_floor)
    assert not shifted.passed  # a 1e-4 shift of every score still fails


def test_bugs_that_wrap_a_forward_are_measured_too_and_all_ones_cannot_show_a_channel_swap(make_fixture):
    """rgb-bgr and hw-transpose wrap model.0's forward; on all-ones they change nothing (every channel and position
    is 1), so selftest measures their effect (exactly 0) and lists them as below the noise there, still among the
    input's blind spots (tests/test_diagnostics.py)."""
    planted = [m for m in MUTATIONS if m.name in ("rgb-bgr", "hw-transpose")]
    # "x": what the CLI passes as --scale when a model is given; the result names the model's own scale
    result = run_selftest(make_fixture("n"), "x", {"ones": "ones"}, planted, imgsz=64, honest=(), isolated=False)
    assert result.scale == "n"
    assert result.blind_spots("ones") == result.below_noise("ones") == ["rgb-bgr", "hw-transpose"]
    assert all(row["ones"].effect == 0.0 for row in result.outcomes.values())
    assert result.invisible == ["rgb-bgr", "hw-transpose"] and result.missed == [] and result.passed


def test_head_concat_needs_the_scores_on_a_grid_not_only_lost():
    """Scores lost while boxes hold is also what error accumulated through a quantized body looks like on noise (the
    n fixture on random:0 at 160 px: scores -1.0 dB, PCC 0.42, boxes 22.4 dB, decode in float). The one-scale
    collapse alone puts the scores on a few levels; the hint fires only with that fingerprint."""
    from yolo10port.compare.engine import Report
    from yolo10port.compare.hints import firing, scores_facts
    from yolo10port.compare.rows import LayerRow

    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 1, (1, 3, 400)).astype(np.float32)
    step = 160 / 255  # one uint8 scale over boxes (0–160 px) and scores (0–1)
    on_grid = (np.round(ref / step) * step).astype(np.float32)
    from_body = rng.uniform(0, 1, ref.shape).astype(np.float32)  # lost, but a float sigmoid's values

    def report(cand) -> Report:
        rows = [
            LayerRow("model.23/boxes", "v10Detect", [1, 4, 400], max_abs=1.0, pcc=0.995, sqnr=22.4, rule="int8"),
            LayerRow("model.23/scores", "v10Detect", [1, 3, 400], max_abs=1.0, pcc=0.42, sqnr=-1.0, rule="int8"),
        ]
        built = Report("ref", "cand", {}, layers=rows, quantized=True)
        built.evidence = {"scores": scores_facts(ref, cand)}
        return built

    assert scores_facts(ref, on_grid)["cand_levels"] <= 3  # 0, one step, two steps
    assert firing(report(on_grid)) == ["head-concat"]
    assert firing(report(from_body)) == []
