"""Isolated error for a port the tool does not run: examples/numpy_port writes a chained and an isolated dump from a
golden set made with `--with-inputs`, and `diff --isolated` names the module whose own output is wrong.

The example is real (YOLOv10-n in numpy, float64); the reference is real (ultralytics, through `golden`); the diff
is the real command line, in the light-install code path.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from tests.conftest import ROOT, assert_input_error, run_cli

PORT = ROOT / "examples" / "numpy_port" / "numpy_port.py"
IMGSZ = 64  # every module of n still runs (the deepest level is 2×2); the numpy port stays a few seconds


@dataclass
class Made:
    folder: Path
    weights: Path  # the export the port reads
    golden: Path  # golden set with recorded inputs, depth all
    ran: dict = field(default_factory=dict)  # (name, bug) → the two dumps: each port run once per module

    @property
    def reference(self) -> Path:
        return self.golden / "ones.safetensors"

    def port(self, name: str, bug: str | None = None) -> tuple[Path, Path]:
        """Run the example on the golden dump; (chained, isolated) dumps in folders `name/` and `name-isolated/`."""
        if (name, bug) in self.ran:
            return self.ran[name, bug]
        chained, isolated = (
            self.folder / name / "ones.safetensors",
            self.folder / f"{name}-isolated" / "ones.safetensors",
        )
        chained.parent.mkdir(exist_ok=True)
        isolated.parent.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "NUMPY_PORT_BUG"} | ({"NUMPY_PORT_BUG": bug} if bug else {})
        ran = subprocess.run(
            [sys.executable, PORT, self.weights, self.reference, chained, isolated],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        self.ran[name, bug] = chained, isolated
        return chained, isolated


@pytest.fixture(scope="module")
def made(make_fixture, tmp_path_factory) -> Made:
    from yolo10port.weights.export import export_weights

    folder = tmp_path_factory.mktemp("numpy-port")
    model = make_fixture("n")
    weights = folder / "yolov10n.safetensors"
    export_weights(model, weights)
    golden = folder / "golden"
    built = run_cli(
        "golden", model, "--inputs", "ones", "--imgsz", IMGSZ, "--depth", "all", "--with-inputs", "-o", golden
    )
    assert built.returncode == 0, built.stderr
    return Made(folder, weights, golden)


def diff_json(reference: Path, chained: Path, isolated: Path, *extra: str) -> tuple[int, dict]:
    result = run_cli("diff", reference, chained, "--isolated", isolated, "--format", "json", *extra)
    assert result.returncode in (0, 1), result.stderr
    (comparison,) = json.loads(result.stdout)["comparisons"]  # the one report shape (yolo10port-report/1)
    return result.returncode, comparison


def test_golden_with_inputs_records_every_module_input(made):
    index = json.loads((made.golden / "index.json").read_text())
    assert index["with_inputs"] is True and index["depth"] == "all"
    with safe_open(made.reference, "np") as reference:
        keys = set(reference.keys())
    assert {"model.9.m@input#2", "model.12@input/1", "model.23@input/2", "model.23.dfl.conv@input"} <= keys


def test_honest_numpy_port_passes_chained_and_isolated(made):
    chained, isolated = made.port("honest")
    status, report = diff_json(made.reference, chained, isolated)
    assert status == 0 and report["pass"] and report["isolated"] and report["culprit"] is None
    rows = [row for row in report["layers"] if row["rule"] != "input"]
    assert len(rows) > 360 and all(row["isolated_passed"] for row in rows)  # every module's own output judged
    assert report["detections"]["pass"]


@pytest.mark.parametrize(
    ("bug", "culprit", "first_chained"),
    [
        # the attention forgets its scale: its children (qkv, pe, proj) are right, the first chained failure is
        # proj, which only inherits the error; the isolated column names the Attention itself
        ("attn-no-scale", "model.10.attn", "model.10.attn.proj.conv"),
        # the port that believed block.py's act=False for SPPF's cv1
        ("sppf-cv1-no-act", "model.9.cv1.act", "model.9.cv1.act"),
    ],
)
def test_a_planted_bug_is_named_by_isolated_error_and_drill(made, bug, culprit, first_chained):
    chained, isolated = made.port(bug, bug)
    status, report = diff_json(made.reference, chained, isolated, "--drill")
    assert status == 1
    assert report["first_failure"] == first_chained
    assert report["culprit"] == culprit
    failing = [row["name"] for row in report["layers"] if row["isolated_passed"] is False]
    owners = {culprit, *(culprit.rsplit(".", k)[0] for k in range(1, culprit.count(".")))}
    assert set(failing) <= owners  # only the module itself and the modules containing it
    assert report["drill"]["culprit"] == culprit


def test_folders_of_dumps_take_a_folder_of_isolated_dumps(made):
    chained, isolated = made.port("attn-no-scale", "attn-no-scale")
    result = run_cli("diff", made.golden, chained.parent, "--isolated", isolated.parent, "--format", "json")
    assert result.returncode == 1, result.stderr
    report = next(c for c in json.loads(result.stdout)["comparisons"] if c["name"] == "ones")
    assert report["culprit"] == "model.10.attn"


def test_an_isolated_dump_that_does_not_fit_is_refused_with_one_line(made, tmp_path):
    chained, _ = made.port("honest")
    unrelated = tmp_path / "unrelated.safetensors"
    save_file({"something": np.ones(2, dtype=np.float32)}, unrelated, metadata={"format": "yolo10port-dump/1"})
    assert_input_error(run_cli("diff", made.reference, chained, "--isolated", unrelated), "unrelated", "holds none")
    with safe_open(chained, "np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata() | {"input": "random:0:1x3x64x64"}
    other_input = tmp_path / "other.safetensors"
    save_file(tensors, other_input, metadata=meta)
    assert_input_error(run_cli("diff", made.reference, chained, "--isolated", other_input), "other", "input")


def test_the_example_needs_only_numpy_and_safetensors():
    """Written from the README and `spec` alone: it may import nothing of yolo10port, nor torch."""
    tree = ast.parse(PORT.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    packages = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) - {"__future__"}
    assert packages == {"numpy", "safetensors"}


def test_diff_isolated_stays_on_the_light_install(made):
    chained, isolated = made.port("honest")
    code = (
        "import json, sys\n"
        "from yolo10port.cli import main\n"
        f"sys.argv = ['yolo10port', 'diff', {str(made.reference)!r}, {str(chained)!r}, '--isolated', "
        f"{str(isolated)!r}, '--format', 'json']\n"
        "status = 0\n"
        "try:\n    main()\nexcept SystemExit as end:\n    status = end.code\n"
        "heavy = sorted(m for m in ('torch', 'ultralytics', 'cv2', 'onnxruntime') if m in sys.modules)\n"
        "print(json.dumps({'exit': status, 'heavy': heavy}), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"exit": 0, "heavy": []}, result.stderr
