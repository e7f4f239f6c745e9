"""`val`: parity on a dataset. The shapes dataset (generated here, offline) and the trained shapes detector; an
honest candidate passes with a zero mAP delta, a port with a scaled head weight breaches the gate, and a port that
feeds BGR (or pads to the square) is named for it — the last from the light install against a golden set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, assert_input_error, run_cli
from tests.test_trust import validate as validate_report

DETECTOR = ROOT / "detector" / "yolov10n-shapes.pt"
IMGSZ = 256  # the detector's training size


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """The shapes dataset's val split (12 images with YOLO labels) and its data.yaml, made by the real generator."""
    sys.path.insert(0, str(ROOT / "detector"))
    try:
        from make_dataset import make_dataset
    finally:
        sys.path.remove(str(ROOT / "detector"))
    return make_dataset(tmp_path_factory.mktemp("shapes"), train=0, val=12, imgsz=IMGSZ)


@pytest.fixture(scope="module")
def clean_model():
    from yolo10port.candidates.clean import load_clean_model

    model, _ = load_clean_model(DETECTOR)
    return model


def port_results(model, images: list[Path], out: Path, bgr: bool = False, square: bool = False) -> Path:
    """What a foreign port hands in: one dump per image with the `input` it fed and its `detections`, written with
    plain safetensors (as a port in another language would), from the clean model, possibly with a pipeline bug."""
    import torch
    from safetensors.numpy import save_file

    from yolo10port.dumps.inputs import array_tensor, read_image

    out.mkdir()
    for image in images:
        array = read_image(image)
        tensor, _ = array_tensor(array, IMGSZ, auto=not square)
        if bgr:
            tensor = tensor.flip(1)  # the classic port bug: OpenCV's BGR fed as it is
        with torch.inference_mode():
            rows = model(tensor)
        dims = "x".join(map(str, tensor.shape))
        save_file(
            {"input": tensor.numpy(), "detections": rows.float().numpy()},
            str(out / f"{image.stem}.safetensors"),
            metadata={
                "format": "yolo10port-dump/1",
                "producer": "test-port 0.1",
                "input": f"image:{image.name}:{dims}",
            },
        )
    return out


def val_json(*args) -> tuple[int, dict, str]:
    result = run_cli("val", *args, "--format", "json", "--bootstrap", "100")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def test_honest_candidate_passes_with_zero_delta(shapes):
    code, report, stderr = val_json(DETECTOR, "--data", shapes, "--imgsz", IMGSZ, "--candidate", "clean")
    assert code == 0, report["verdict"]
    assert report["schema"] == "yolo10port-report/1" and report["pass"] and report["first_failure"] is None
    validate_report(report)
    val = report["val"]
    assert val["images"] == 12 and val["boxes"]["match_rate"] == 1.0
    mean_ap = val["map"]
    assert mean_ap["reference_map"] > 0.5  # the detector works on its own data: mAP is measured, not 0
    assert abs(mean_ap["delta"]) < 1e-4 and mean_ap["ci"][0] <= 0 <= mean_ap["ci"][1] and mean_ap["resamples"] == 100
    assert val["preprocessing"]["letterbox"] == "rect" and val["preprocessing"]["predictor_identical"] is True
    assert all(v > 0 for v in val["throughput_images_per_s"].values())
    assert "PASS" in stderr


def test_degraded_port_breaches_the_gate(shapes, clean_model, tmp_path):
    """A port with one head weight scaled (the box branch's middle conv × 0.7): every box still matches at
    IoU ≥ 0.9, but mAP50-95 drops beyond the budget with an interval that excludes 0; the GitHub summary names
    the worst images, with their thumbnails and the commands that drill into them."""
    import copy

    import torch

    from yolo10port.compare.val_report import _worst, render
    from yolo10port.workflows.val import run_val
    from yolo10port.workflows.val_images import write_thumbnails

    images = sorted((shapes.parent / "images" / "val").glob("*.png"))
    model = copy.deepcopy(clean_model)
    with torch.no_grad():
        for level in range(3):
            model.get_parameter(f"model.23.one2one_cv2.{level}.1.conv.weight").mul_(0.7)
    folder = port_results(model, images, tmp_path / "port")
    result = run_val(DETECTOR, shapes, str(folder), imgsz=IMGSZ, resamples=100, keep_rows=True)
    assert not result.passed and len(result.failures) == 1 and result.failures[0].startswith("mAP50-95 drop 0.0")
    assert result.map.drop > 0.005 and result.map.ci[1] < 0  # the whole interval is a loss
    assert result.diff.match_rate == 1.0 and min(d.worst_iou for d in result.diff.images) < 0.99
    worst = _worst(result, 3)
    thumbs = write_thumbnails(tmp_path / "thumbs", worst, result.rows, 0.25, {}, [DETECTOR])
    text = render(result, "github", 3, thumbs)
    assert "❌ FAIL" in text and "mAP50-95 drop" in text
    assert "yolo10port dump" in text and "yolo10port diff" in text  # a foreign port: dump the reference, diff it
    assert len(thumbs) == 3 and all(f"]({path})" in text and Path(path).stat().st_size for path in thumbs.values())


def test_bgr_port_is_named_from_the_light_install(shapes, clean_model, tmp_path):
    """A golden set of the reference written once; a port that fed BGR; val in a fresh interpreter where torch,
    ultralytics and OpenCV cannot be imported: exit 1, and the cause is named."""
    subset = tmp_path / "images"
    subset.mkdir()
    for image in sorted((shapes.parent / "images" / "val").glob("*.png"))[:4]:
        (subset / image.name).write_bytes(image.read_bytes())
        label = shapes.parent / "labels" / "val" / f"{image.stem}.txt"
        (subset / label.name).write_bytes(label.read_bytes())
    golden = tmp_path / "golden"
    made = run_cli("golden", DETECTOR, "--inputs", subset, "--imgsz", IMGSZ, "--detections-only", "-o", golden)
    assert made.returncode == 0, made.stderr
    index = json.loads((golden / "index.json").read_text())
    assert len(index["inputs"]) == 4 and index["inputs"]["0000"]["image_hw"] == [IMGSZ, IMGSZ]
    port = port_results(clean_model, sorted(subset.glob("*.png")), tmp_path / "port", bgr=True)
    light = (
        "import sys\n"
        "for name in ('torch', 'ultralytics', 'cv2', 'onnxruntime', 'openvino'): sys.modules[name] = None\n"
        "from yolo10port.cli import main\n"
        f"sys.argv = ['yolo10port', 'val', {str(golden)!r}, '--data', {str(subset)!r}, '--candidate', {str(port)!r},"
        " '--format', 'json', '--bootstrap', '100']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", light], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["val"]["failures"][-1] == "input differs from the reference's on 4 images"
    assert "BGR/RGB swap" in report["val"]["likely_cause"] and "4/4 images" in report["val"]["likely_cause"]
    assert report["val"]["map"] is not None and report["val"]["throughput_images_per_s"]["candidate"] is None
    assert "BGR/RGB swap" in result.stderr


def test_square_letterbox_is_named(clean_model, tmp_path):
    """Non-square photos letterboxed to the full square by the port, to the rectangle by the predictor."""
    from yolo10port.dumps.inputs import read_image
    from yolo10port.workflows.detect import write_image
    from yolo10port.workflows.val import run_val
    from yolo10port.workflows.val_data import load_dataset

    sys.path.insert(0, str(ROOT / "detector"))
    try:
        from make_dataset import make_image
    finally:
        sys.path.remove(str(ROOT / "detector"))
    folder = tmp_path / "wide"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        image, _ = make_image(rng, IMGSZ)
        write_image(folder / f"wide{i}.png", image[32:-32])  # 192×256: the predictor pads to 192, not 256
    assert read_image(folder / "wide0.png").shape[:2] == (192, 256)
    assert load_dataset(folder).labels is None
    port = port_results(clean_model, sorted(folder.glob("*.png")), tmp_path / "port", square=True)
    result = run_val(DETECTOR, folder, str(port), imgsz=IMGSZ, resamples=10)
    assert result.map is None and not result.passed and result.failures[-1].startswith("input differs")
    assert "square vs rectangular letterbox" in result.likely_cause()
    assert result.preprocessing["predictor_identical"] is True


def test_usage_errors_are_one_line(shapes, tmp_path):
    assert_input_error(run_cli("val", DETECTOR, "--data", tmp_path / "nowhere"), "nowhere", "no such file")
    assert_input_error(run_cli("val", DETECTOR, "--data", shapes, "--candidate", "tensorrt"), "--candidate", "tensorrt")
    # ncnn is a runner, but its export is static: val names the option that fits the predictor to it
    assert_input_error(run_cli("val", DETECTOR, "--data", shapes, "--candidate", "ncnn"), "--square", "static")
    assert_input_error(run_cli("val", DETECTOR, "--data", shapes, "--format", "model-explorer"), "--format")
    (tmp_path / "empty").mkdir()
    assert_input_error(run_cli("val", DETECTOR, "--data", tmp_path / "empty"), "holds no images")


def test_ties_at_a_saturated_max_det_cut_are_excused_but_never_pass_alone():
    """A head that keeps 300 boxes all within 0.01 of its lowest score (a saturated fixture) was cut by top-k, not
    conf: which 300 it keeps is a tie float noise breaks, so a float-equal port's different choice is excused, not
    lost; but an image set with nothing else cannot pass on detections alone. A box above the cut is still judged."""
    from yolo10port.compare.dataset import MAX_DET, DatasetDiff, match_image
    from yolo10port.workflows.val import Gate, ValResult

    rng = np.random.default_rng(0)

    def boxes(offset, n, score):
        xy = rng.uniform(0, 500, (n, 2)) + offset
        return np.column_stack([xy, xy + 20, np.full(n, score), rng.integers(0, 80, n)])

    ref = boxes(0, MAX_DET, 0.97)
    cand = boxes(1000, MAX_DET, 0.969)  # another 300 of the tied anchors: nothing in common with the reference's
    tied = match_image("x", "x.png", ref, cand, conf=0.25, iou=0.9)
    assert (tied.at_cut, tied.cut_excused, tied.lost, tied.gained, tied.shifted) == (600, 300, 0, 0, 0)
    everything_tied = DatasetDiff([tied], 0.25, 0.9)
    assert not everything_tied.informative
    result = ValResult("m", "c", "r", "c", "d", {}, everything_tied, None, Gate().resolved(False, False), {}, 0.0)
    assert not result.passed and "nothing informative" in result.failures[-1]

    confident = boxes(0, 1, 0.975)  # inside the tie band (0.975 − 0.97 ≤ 0.01): excused too
    ref_with_one = np.vstack([ref[:-1], confident])
    judged = match_image("y", "y.png", ref_with_one, cand, conf=0.25, iou=0.9)
    assert judged.lost == 0 and judged.shifted == 0 and judged.cut_excused == MAX_DET
    clear = np.vstack([ref[:-1], [[600, 600, 620, 620, 0.99, 3]]])  # 0.02 above the cut: the port must have it
    lost = match_image("z", "z.png", clear, cand, conf=0.25, iou=0.9)
    assert lost.lost == 1 and lost.cut_excused == MAX_DET - 1
    assert DatasetDiff([lost], 0.25, 0.9).match_rate == 0.0  # the one judged box is lost
    not_full = match_image("w", "w.png", ref[:299], cand[:299], conf=0.25, iou=0.9)  # conf made the set, not top-k
    assert not_full.at_cut == 0 and not_full.lost == 299


def test_each_box_is_classified_for_its_own_reason():
    """matched, shifted, lost (and why), gained, and a crossing of the conf threshold, on hand-made rows."""
    from yolo10port.compare.dataset import match_image

    ref = np.array(
        [
            [10, 10, 50, 50, 0.90, 0],  # matched: the candidate has it to a fraction of a pixel
            [100, 100, 140, 140, 0.80, 1],  # shifted: the candidate's box moved by 15 px
            [200, 10, 240, 50, 0.70, 2],  # lost: the candidate calls it class 1
            [10, 200, 50, 240, 0.60, 0],  # lost: the candidate scored it 0.10
            [300, 300, 340, 340, 0.255, 1],  # at conf: the candidate has it at 0.249
        ]
    )
    cand = np.array(
        [
            [10.2, 10, 50, 50.1, 0.91, 0],
            [115, 100, 155, 140, 0.80, 1],
            [200, 10, 240, 50, 0.70, 1],
            [10, 200, 50, 240, 0.10, 0],
            [300, 300, 340, 340, 0.249, 1],
            [400, 400, 440, 440, 0.50, 2],  # gained
        ]
    )
    diff = match_image("x", "x.png", ref, cand, conf=0.25, iou=0.9)
    assert diff.reference_status == ["matched", "shifted", "lost", "lost", "at conf"]
    assert diff.candidate_status == ["matched", "shifted", "gained", "gained"]
    assert (diff.matched, diff.shifted, diff.lost, diff.gained, diff.at_conf) == (1, 1, 2, 2, 1)
    assert diff.score_deltas == pytest.approx([0.01])
    assert any("class 2 became 1" in note for note in diff.notes)
    assert any("scored 0.100" in note for note in diff.notes)
