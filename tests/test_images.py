"""Real images end to end: ultralytics-identical preprocessing, boxes matched against ultralytics' own predictor,
the trained shapes detector, and the pictures."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import ROOT, run_cli, scale_params
from yolo10port.candidates.clean import load_clean_model
from yolo10port.dumps.inputs import make_input, read_image
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.network import keep_torch_threads
from yolo10port.reference.predict import ultralytics_predict
from yolo10port.workflows.detect import predict, scale_boxes
from yolo10port.workflows.e2e import run_e2e
from yolo10port.workflows.selftest.run import bundled_image

PHOTOS = ["bus.jpg", "zidane.jpg"]
DETECTOR = ROOT / "detector" / "yolov10n-shapes.pt"
DEMO = ROOT / "detector" / "demo.png"


@pytest.mark.parametrize("imgsz", [640, 320])
@pytest.mark.parametrize("photo", PHOTOS)
def test_preprocessing_is_the_predictors_tensor_for_tensor(photo, imgsz, make_fixture):
    theirs, _ = ultralytics_predict(make_fixture("n"), bundled_image(photo), imgsz)
    ours = make_input(RunSpec(input=bundled_image(photo), imgsz=imgsz)).tensor
    assert ours.shape == theirs.shape
    assert torch.equal(ours, theirs)


def test_boxes_map_back_with_ultralytics_arithmetic():
    from ultralytics.utils.ops import scale_boxes as ultralytics_scale_boxes

    generator = torch.Generator().manual_seed(0)
    for input_hw, original_hw in [((640, 480), (1080, 810)), ((384, 640), (720, 1280)), ((320, 256), (300, 200))]:
        boxes = torch.rand(50, 4, generator=generator) * torch.tensor([input_hw[1], input_hw[0]] * 2) * 1.2 - 10
        expected = ultralytics_scale_boxes(input_hw, boxes.clone(), original_hw)
        assert torch.equal(scale_boxes(boxes.clone(), input_hw, original_hw), expected)


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("scale", scale_params(ci="n"))  # the pipeline, not the architecture: s–x extended
def test_end_to_end_every_box_matches_ultralytics_predictor(scale, photo, make_fixture):
    result = run_e2e(make_fixture(scale), bundled_image(photo))
    assert result.input_identical
    assert result.reference_boxes == result.clean_boxes == 300
    assert result.match.passed, result.match.reason
    assert result.match.matched + result.match.at_cut == 300
    assert result.match.worst_iou >= 0.99


def test_ultralytics_default_head_gives_other_boxes(make_fixture):
    """Without nms=False, ultralytics 8.4's predictor runs the one-to-many head + NMS: the pin matters."""
    path, image = make_fixture("s"), bundled_image("bus.jpg")
    _, one_to_one = ultralytics_predict(path, image)
    _, default = ultralytics_predict(path, image, one_to_one=False)
    assert len(one_to_one) == 300
    assert len(default) != len(one_to_one) or not torch.allclose(default, one_to_one)


def test_python_api_gives_named_boxes_on_the_original_image(make_fixture):
    model, _ = load_clean_model(make_fixture("n", nc=3), fuse=True)
    image = read_image(bundled_image("zidane.jpg"))
    detections = predict(model, image, conf=0.0)
    assert len(detections) == 300
    height, width = image.shape[:2]
    for det in detections:
        x1, y1, x2, y2 = det.box
        assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
        assert det.name == f"class{det.class_id}" and 0 <= det.class_id < 3
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)


def test_check_e2e_cli(make_fixture):
    args = ("check", make_fixture("n"), "--input", bundled_image("bus.jpg"), "--imgsz", "320", "--e2e")  # 640: above
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "end to end" in result.stdout and "300/300 boxes matched" in result.stdout and "identical" in result.stdout
    as_json = run_cli(*args, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)  # the whole of stdout is the document: the e2e facts are inside it
    (e2e,) = [facts for facts in document["checks"] if facts["name"].endswith("end to end")]
    assert e2e["pass"] and e2e["match"]["matched"] == 300


# --- the trained shapes detector ------------------------------------------------------------------------------


def test_trained_detector_finds_the_demo_shapes(tmp_path):
    """The committed detector on a held-out image: every labelled shape found, with its right class."""
    from yolo10port.compare.detections import box_iou

    model, _ = load_clean_model(DETECTOR, fuse=True)
    image = read_image(DEMO)
    detections = predict(model, image, imgsz=256, conf=0.25)
    height, width = image.shape[:2]
    truth = []
    for line in DEMO.with_suffix(".txt").read_text().split("\n"):
        if line.strip():
            k, cx, cy, w, h = map(float, line.split())
            truth.append(
                (int(k), [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
            )
    assert len(detections) == len(truth), detections
    boxes = torch.tensor([d.box for d in detections], dtype=torch.float64)
    for k, box in truth:
        iou = box_iou(torch.tensor([box], dtype=torch.float64), boxes)[0]
        best = int(iou.argmax())
        assert iou[best] >= 0.7 and detections[best].class_id == k, (k, box, detections[best])


def test_trained_detector_reaches_its_recorded_map(tmp_path):
    """Re-measure mAP50 on the held-out split (regenerated: the generator is deterministic) with ultralytics' val."""
    import sys

    from ultralytics import YOLO

    sys.path.insert(0, str(ROOT / "detector"))
    from make_dataset import make_dataset

    record = json.loads(DETECTOR.with_suffix(".json").read_text())
    data = make_dataset(tmp_path / "shapes", train=0, val=record["val_images"], imgsz=record["imgsz"])
    with keep_torch_threads():  # ultralytics' validator would leave torch single-threaded for later tests
        metrics = YOLO(str(DETECTOR)).val(
            data=str(data), imgsz=record["imgsz"], plots=False, verbose=False, nms=False, project=str(tmp_path)
        )
    assert float(metrics.box.map50) >= 0.8
    assert abs(float(metrics.box.map50) - record["map50"]) < 0.02


def test_detect_cli_draws_the_boxes(tmp_path):
    out = tmp_path / "demo.detections.png"
    result = run_cli("detect", DETECTOR, DEMO, "--imgsz", "256", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_image(out).shape == read_image(DEMO).shape
    classes = ["square", "circle", "triangle"]
    labelled = {classes[int(line.split()[0])] for line in DEMO.with_suffix(".txt").read_text().split("\n") if line}
    assert labelled and all(name in result.stdout for name in labelled)


def test_diff_plot_marks_the_first_failure(make_fixture, tmp_path):
    from yolo10port.candidates.clean import dump_model
    from yolo10port.reference.dump import dump_reference
    from yolo10port.workflows.selftest.mutations import MUTATIONS

    path = make_fixture("n")
    reference, candidate = tmp_path / "ref.safetensors", tmp_path / "cand.safetensors"
    dump_reference(path, reference, RunSpec(input="random:0"))
    model, weights = load_clean_model(path)
    next(m for m in MUTATIONS if m.name == "sppf-zero-pad").plant(model, weights.state_dict)
    dump_model(model, weights.source_sha256, candidate, RunSpec(input="random:0"))
    plot = tmp_path / "errors.png"
    result = run_cli("diff", reference, candidate, "--plot", plot)
    assert result.returncode == 1 and "plot of the per-layer errors" in result.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
