"""What a new user tripped over: each behaviour checked through the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import ROOT, run_cli
from yolo10port.candidates.clean import dump_clean
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference

DETECTOR = ROOT / "detector" / "yolov10n-shapes.pt"
DEMO = ROOT / "detector" / "demo.png"
# What these tests look at (streams, formats, names, depths) does not hang on the input's size: 320, a quarter of 640.
RANDOM = RunSpec(input="random:0", imgsz=320)


@pytest.fixture(scope="module")
def deep(make_fixture, tmp_path_factory):
    """Depth-all dumps of n on random:0: the reference, and the clean model (bit-identical to it)."""
    folder = tmp_path_factory.mktemp("deep")
    spec = RANDOM.but(depth=None)
    ref = dump_reference(make_fixture("n"), folder / "ref.safetensors", spec)
    clean = dump_clean(make_fixture("n"), folder / "clean.safetensors", spec)
    return ref, clean


def test_machine_readable_stdout_parses(make_fixture, deep, tmp_path):
    checked = run_cli("check", make_fixture("n"), "--input", "random:0", "--imgsz", "320", "--format", "json")
    assert checked.returncode == 0, checked.stderr
    document = json.loads(checked.stdout)  # nothing else on stdout: timings and notes go to stderr
    assert document["pass"] and document["comparisons"][0]["layers"][0]["name"] == "input"
    assert "export " in checked.stderr and " s, reference " in checked.stderr  # the timing line, on stderr
    diffed = run_cli("diff", *deep, "--format", "json")
    assert diffed.returncode == 0 and json.loads(diffed.stdout)["pass"]
    junit = run_cli("diff", *deep, "--format", "junit")
    assert ET.fromstring(junit.stdout).get("failures") == "0"


def test_a_broken_pipe_is_never_a_parity_breach(deep):
    """`diff … | head -1` on a passing diff: the reader leaves early; the exit code must not become 1."""
    command = [sys.executable, "-m", "yolo10port.cli", "diff", *map(str, deep)]
    shell = f"set -o pipefail; {' '.join(command)} | head -1 > /dev/null; echo ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=ROOT)
    status = int(result.stdout.strip().splitlines()[-1])
    assert status in (0, 141), (status, result.stderr)  # 141: ended by SIGPIPE, like cat or grep
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


# `check --all-scales` with the scale table cut to the given scales: the real command and its real loop, for CI,
# where building the four large fixtures alone takes minutes (the six: the extended test below).
CUT_SCALES = (
    "import sys, yolo10port.model.scales as table;"
    "table.SCALES = {k: table.SCALES[k] for k in sys.argv.pop(1)};"
    "from yolo10port.cli.app import main; main()"
)


def run_all_scales(make_fixture, tmp_path, scales: str) -> Path:
    """`check --all-scales --format junit -o all.xml` on the session's fixtures of `scales`; the report's path."""
    cache = tmp_path / "cache"
    fixtures = cache / "yolo10port" / "fixtures"
    fixtures.mkdir(parents=True)
    for scale in scales:  # the session's fixtures, where `check --all-scales` looks for its own
        (fixtures / f"yolov10{scale}-fixture.pt").symlink_to(make_fixture(scale))
    out = tmp_path / "all.xml"
    entry = ["-m", "yolo10port.cli"] if scales == "nsmblx" else ["-c", CUT_SCALES, scales]
    args = ["check", "--all-scales", "--imgsz", "160", "--format", "junit", "-o", str(out)]
    env = {**os.environ, "YOLO10PORT_CACHE": str(cache)}
    result = subprocess.run([sys.executable, *entry, *args], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("YOLOv10-")] == [
        f"YOLOv10-{scale}: PASS" for scale in scales
    ]
    assert sorted(p.name for p in fixtures.iterdir()) == sorted(f"yolov10{s}-fixture.pt" for s in scales)  # none built
    assert sorted(tmp_path.iterdir()) == sorted([cache, out])  # nothing else written in the working directory
    return out


def test_all_scales_honours_format_and_output(make_fixture, tmp_path):
    suites = ET.parse(run_all_scales(make_fixture, tmp_path, "ns")).getroot()
    assert suites.tag == "testsuites" and [suite.get("name") for suite in suites] == [
        "yolo10port.parity.YOLOv10-n",
        "yolo10port.parity.YOLOv10-s",
    ]
    assert all(suite.get("failures") == "0" for suite in suites)
    assert run_cli("check", make_fixture("n"), "--all-scales").returncode == 2


@pytest.mark.extended
def test_all_scales_checks_the_six_fixtures(make_fixture, tmp_path):
    suites = ET.parse(run_all_scales(make_fixture, tmp_path, "nsmblx")).getroot()
    assert suites.tag == "testsuites" and len(suites) == 6


def test_depth_mismatch_compares_what_both_hold(deep, make_fixture, tmp_path):
    ref_deep, clean_deep = deep
    shallow = dump_clean(make_fixture("n"), tmp_path / "shallow.safetensors", RANDOM)
    result = run_cli("diff", ref_deep, shallow)
    assert result.returncode == 0, result.stdout
    assert "depths differ" in result.stdout
    shallow_ref = dump_reference(make_fixture("n"), tmp_path / "r1.safetensors", RANDOM)
    reverse = run_cli("diff", shallow_ref, clean_deep)
    assert reverse.returncode == 0 and "not in reference, ignored" in reverse.stdout


def test_detect_uses_the_size_the_checkpoint_was_trained_at(tmp_path):
    out = tmp_path / "demo.png"
    result = run_cli("detect", DETECTOR, DEMO, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "imgsz 256" in result.stderr and "4 detections" in result.stdout


def test_default_outputs_go_beside_the_input_from_any_directory(make_fixture, tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(make_fixture("n").read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dumped = run_cli("dump", model, "--no-floor", cwd=elsewhere)
    assert dumped.returncode == 0, dumped.stderr
    assert (tmp_path / "m.reference.safetensors").exists() and list(elsewhere.iterdir()) == []
    ran = run_cli("run", model, cwd=elsewhere)
    assert ran.returncode == 0 and (tmp_path / "m.clean.safetensors").exists()


def test_export_reports_the_dtype_it_wrote(make_fixture, tmp_path):
    result = run_cli("export", make_fixture("n"), "--dtype", "float32", "-o", tmp_path / "w.safetensors")
    assert result.returncode == 0 and "written float32" in result.stdout and "read as float16" in result.stdout


def test_fixture_and_selftest_keep_ultralytics_chatter_and_temp_names_out(make_fixture, tmp_path):
    result = run_cli("fixture", "--scale", "n", "-o", tmp_path / "n.pt", cwd=tmp_path)
    assert result.returncode == 0 and "Optimizer stripped" not in result.stdout + result.stderr
    assert ".partial" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.pt"]
    # selftest with no model keeps its fixture in the user cache, never in the working directory
    cache, work = tmp_path / "cache", tmp_path / "work"
    (cache / "yolo10port" / "fixtures").mkdir(parents=True)
    (cache / "yolo10port" / "fixtures" / "yolov10n-fixture.pt").symlink_to(make_fixture("n"))
    work.mkdir()
    selftest = subprocess.run(
        [
            sys.executable,
            "-m",
            "yolo10port.cli",
            "selftest",
            "--inputs",
            "random:0",
            "--no-weights",
            "--honest",
            "clean",
            "--imgsz",
            "160",  # what is printed, and where the fixture is kept, not the size, is the point here
        ],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "YOLO10PORT_CACHE": str(cache)},
    )
    assert selftest.returncode == 0, selftest.stdout[-2000:] + selftest.stderr
    assert "every one of 14 planted bugs caught in its own layer" in selftest.stdout
    assert list(work.iterdir()) == [] and "Optimizer stripped" not in selftest.stdout


def test_diff_drill_heading_and_single_verdict(make_fixture, tmp_path):
    from yolo10port.candidates.clean import dump_model, load_clean_model
    from yolo10port.workflows.selftest.mutations import WEIGHT_MUTATIONS

    spec = RANDOM.but(depth=None)
    ref = dump_reference(make_fixture("n"), tmp_path / "ref.safetensors", spec)
    model, weights = load_clean_model(make_fixture("n"))
    next(m for m in WEIGHT_MUTATIONS if m.name.endswith("model.13")).plant(model, weights.state_dict)
    cand = dump_model(model, weights.source_sha256, tmp_path / "cand.safetensors", spec)
    plot = tmp_path / "deep.png"
    result = run_cli("diff", ref, cand, "--drill", "--plot", plot)
    assert result.returncode == 1
    assert "drill-down into model.13" in result.stdout and "first wrong module model.13.cv1.conv" in result.stdout
    assert result.stdout.count("FAIL: first failure") == 1
    width = int.from_bytes(plot.read_bytes()[16:20], "big")  # PNG IHDR width
    assert width < 2000, width


def test_small_things(deep, make_fixture):
    ref, clean = deep
    result = run_cli("diff", ref, clean)
    title = result.stdout.lstrip().splitlines()[0]  # in the order of the arguments: reference, then candidate
    assert title.startswith("reference ") and title.index(ref.name) < title.index("candidate")
    assert "bit-identical" in result.stdout  # no "worst layer … 0.00e+00"
    helped = run_cli("diff", "--help")
    flat = " ".join(helped.stdout.replace("│", " ").split())  # help wraps at the terminal's width
    assert "default 1e-5" in flat and "default 1e-4" in flat  # the fixed rule's defaults
    assert "write the report" in helped.stdout
    dump_help = run_cli("dump", "--help")
    assert "the dump to write" in dump_help.stdout
    checked = run_cli("check", make_fixture("n"), "--imgsz", "320", "--format", "json")
    document = json.loads(checked.stdout)
    assert not Path(document["comparisons"][0]["reference"]).is_absolute() and "yolo10port-check-" not in checked.stdout


def test_help_and_the_clean_model_pay_no_runtime_import():
    heavy = ("torch", "ultralytics", "onnx", "onnxruntime", "openvino", "cv2")
    code = (
        "import sys\n"
        "sys.argv = ['yolo10port', 'check', '--help']\n"
        "from yolo10port.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(k for k in sys.modules if k.split('.')[0] in {heavy!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
    code = (
        "import sys, yolo10port.model\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'onnx', 'onnxruntime', 'openvino', 'ultralytics'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_a_dump_feeds_another_run_exactly_what_it_was_fed(deep, make_fixture, tmp_path):
    """`run --input ref.safetensors`: the port gets the reference's own input tensor, and its metadata."""
    ref, _ = deep
    out = tmp_path / "fed.safetensors"
    ran = run_cli("run", make_fixture("n"), "--input", ref, "--depth", "1", "-o", out)
    assert ran.returncode == 0, ran.stderr
    diffed = run_cli("diff", ref, out, "--format", "json")
    report = json.loads(diffed.stdout)
    first = report["comparisons"][0]["layers"][0]
    assert diffed.returncode == 0 and first["name"] == "input" and first["pass"] and first["max_abs"] == 0
