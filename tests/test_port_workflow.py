"""The copyable CI workflow (examples/ci/port-parity.yml), run here as it is written.

The `yolo10port …` and `python examples/foreign_port/…` lines of its `run:` steps are read from the yml and run
in a clean folder, so the example cannot drift from what is tested: golden set, ONNX export, the foreign port,
diff to JUnit and to the GitHub step summary. The honest port exits 0; the same port with one model.13 weight
scaled by 1.001 exits 1 with the summary naming model.13. And the light path: `diff` imports no torch.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.conftest import ROOT, assert_input_error, run_cli
from yolo10port.cli.app import FULL_INSTALL
from yolo10port.errors import InputError
from yolo10port.workflows.golden import parse_inputs, safe_name

WORKFLOW = ROOT / "examples" / "ci" / "port-parity.yml"
PORT = "examples/foreign_port/onnx_port.py"
# What the workflow runs, in order: the first word after `yolo10port` (or the port script), and the diff format.
EXPECTED = ["golden", "onnx", PORT, "diff junit", "diff github"]
PLANTED = "/model.13/"  # the scope whose first Conv weight the planted bug scales by 1.001


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def expand(word: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env[m.group(1)], word)


def workflow_lines(env: dict[str, str]) -> list[list[str]]:
    """The tool and port lines of the workflow's `run:` steps, in order, with `$VARS` taken from `env`."""
    lines = []
    for step in workflow()["jobs"]["parity"]["steps"]:
        for line in step.get("run", "").splitlines():
            words = shlex.split(line)
            if words and (words[0] == "yolo10port" or PORT in words):
                lines.append([expand(word, env) for word in words])
    return lines


def label(words: list[str]) -> str:
    if PORT in words:
        return PORT
    if words[1] == "diff":
        return f"diff {words[words.index('--format') + 1]}"
    return words[1]


def run_line(words: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """One workflow line as the runner's shell would: `|| true` and `>> FILE` honoured, the tool by the real CLI."""
    if words[-2:] == ["||", "true"]:
        words = words[:-2]
    append_to = None
    if ">>" in words:
        append_to, words = Path(words[words.index(">>") + 1]), words[: words.index(">>")]
    if words[0] == "yolo10port":
        result = run_cli(*words[1:], cwd=cwd)
    else:
        script = words.index(PORT)
        result = subprocess.run(
            [sys.executable, ROOT / PORT, *words[script + 1 :]], cwd=cwd, capture_output=True, text=True, timeout=300
        )
    if append_to is not None:
        with open(append_to, "a") as summary:
            summary.write(result.stdout)
    return result


class Workflow:
    """The workflow's lines for one run folder, with the test's settings (n, imgsz 320) in place of the yml's."""

    def __init__(self, folder: Path, weights: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.weights = folder, weights
        self.summary = folder / "step-summary.md"
        env = {**workflow()["env"], "WEIGHTS": str(weights), "IMGSZ": "320", "GITHUB_STEP_SUMMARY": str(self.summary)}
        self.lines = {label(words): words for words in workflow_lines(env)}

    def run(self, name: str) -> subprocess.CompletedProcess:
        return run_line(self.lines[name], self.folder)


@pytest.fixture(scope="module")
def made(make_fixture, tmp_path_factory):
    """Up to the comparison, once: the cache-miss steps (golden set, ONNX export), then the honest port's dumps."""
    flow = Workflow(tmp_path_factory.mktemp("port-parity"), make_fixture("n"))
    for name in ("golden", "onnx", PORT):
        result = flow.run(name)
        assert result.returncode == 0, (name, result.stdout, result.stderr)
    return flow


def test_the_workflow_runs_what_this_test_runs():
    steps = workflow()["jobs"]["parity"]["steps"]
    env = {**workflow()["env"], "GITHUB_STEP_SUMMARY": "summary.md"}
    assert [label(words) for words in workflow_lines(env)] == EXPECTED
    key = next(step for step in steps if step.get("id") == "key")["run"]
    assert 'sha256sum "$WEIGHTS"' in key and "$ULTRALYTICS" in key
    caches = {step["uses"].split("@")[0]: step for step in steps if "actions/cache" in step.get("uses", "")}
    assert set(caches) == {"actions/cache/restore", "actions/cache/save"}
    assert caches["actions/cache/restore"]["with"]["key"] == caches["actions/cache/save"]["with"]["key"]
    made_on_miss = next(step for step in steps if "yolo10port golden" in step.get("run", ""))
    assert made_on_miss["if"] == "steps.golden.outputs.cache-hit != 'true'"
    compare = next(step for step in steps if "yolo10port diff" in step.get("run", ""))
    assert compare["run"].rstrip().endswith('>> "$GITHUB_STEP_SUMMARY"')  # its exit code is the step's
    light = next(step for step in steps if '"$LIGHT"' in step.get("run", ""))
    assert steps.index(light) < steps.index(compare) and "[" not in workflow()["env"]["LIGHT"]  # no extra


def test_foreign_port_needs_only_onnxruntime_numpy_safetensors():
    """The example proves the interchange rules suffice, so it may import nothing of yolo10port (nor onnx)."""
    tree = ast.parse((ROOT / PORT).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    packages = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) - {"__future__"}
    assert packages == {"numpy", "onnxruntime", "safetensors"}


def test_golden_set_and_its_index(made, make_fixture):
    golden = made.folder / "golden"
    index = json.loads((golden / "index.json").read_text())
    weights = make_fixture("n")
    assert index["format"] == "yolo10port-golden/1"
    assert index["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (index["imgsz"], index["depth"], index["square"]) == (320, "1", True)
    assert index["ultralytics"].startswith("8.") and index["torch"]
    assert list(index["inputs"]) == ["ones", "random-0", "bus"]
    assert {p.name for p in golden.iterdir()} == {"index.json"} | {entry["file"] for entry in index["inputs"].values()}
    bus = index["inputs"]["bus"]
    assert bus["spec"].startswith("image:bus.jpg:") and bus["spec"].endswith(":1x3x320x320")
    assert bus["sha256"] == hashlib.sha256((golden / "bus.safetensors").read_bytes()).hexdigest()
    keys = {entry["key"]: entry for entry in bus["keys"]}
    assert keys["model.13"]["shape"] == [1, 128, 20, 20] and keys["model.13"]["noise_floor"]["model.13"] > 0
    assert set(keys["model.23"]["noise_floor"]) == {"model.23/boxes", "model.23/scores"}
    assert keys["detections"]["shape"] == [1, 300, 6]


def test_honest_port_passes(made):
    assert sorted(p.name for p in (made.folder / "cand").iterdir()) == sorted(
        f"{name}.safetensors" for name in ("ones", "random-0", "bus")
    )
    junit = made.run("diff junit")
    assert junit.returncode == 0, junit.stderr
    suites = ET.parse(made.folder / "parity.xml").getroot()
    assert len(suites) == 3 and all(suite.get("failures") == "0" for suite in suites)
    summary = made.run("diff github")
    assert summary.returncode == 0, summary.stderr
    text = made.summary.read_text()
    assert text.splitlines()[0] == "# cand against golden: PASS"
    assert "| model.13 |" in text  # each input's full table is in the summary, folded


def test_planted_bug_fails_at_model_13(made):
    """One model.13 Conv weight ×1.001 in the ONNX graph: every input fails first at model.13, and says so."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    planted = Workflow(made.folder / "planted", made.weights)
    (planted.folder / "golden").symlink_to(made.folder / "golden")
    model = onnx.load(str(made.folder / "model.onnx"))
    conv = next(node for node in model.graph.node if node.name.startswith(PLANTED) and node.op_type == "Conv")
    weight = next(tensor for tensor in model.graph.initializer if tensor.name == conv.input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(1.001), weight.name))
    onnx.save(model, str(planted.folder / "model.onnx"))

    assert planted.run(PORT).returncode == 0
    assert planted.run("diff junit").returncode == 1
    for suite in ET.parse(planted.folder / "parity.xml").getroot():
        failing = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
        assert failing[0] == "model.13", (suite.get("name"), failing)
    summary = planted.run("diff github")
    assert summary.returncode == 1, summary.stderr
    text = planted.summary.read_text()
    assert text.splitlines()[0] == "# cand against golden: FAIL"
    for name in ("ones", "random-0", "bus"):
        assert f"- {name}: FAIL: first failure at model.13 " in text
    failing_rows = text.split("Failing rows", 1)[1]
    assert next(line for line in failing_rows.splitlines() if line.startswith("| ")).startswith("| layer |")
    assert "| **model.13** |" in failing_rows.split("<details>", 1)[0]  # the first failure, bold, before the fold


@pytest.mark.parametrize(
    "args",
    [["diff", "golden", "cand", "--format", "github"], ["inspect", "golden/bus.safetensors", "--format", "json"]],
)
def test_light_path_imports_neither_torch_nor_ultralytics(made, args):
    """What the light install runs (`diff` of two folders, `inspect` of a dump), in a fresh interpreter: no module
    of the full install may be imported, or the light install breaks."""
    code = (
        "import json, sys\n"
        "from yolo10port.cli import main\n"
        f"sys.argv = ['yolo10port', *{args!r}]\n"
        "status = 0\n"
        "try:\n    main()\nexcept SystemExit as end:\n    status = end.code\n"
        f"heavy = sorted(name for name in {sorted(FULL_INSTALL)!r} if name in sys.modules)\n"
        "print(json.dumps({'exit': status, 'heavy': heavy}), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=made.folder, capture_output=True, text=True, timeout=300)
    outcome = json.loads(result.stderr.strip().splitlines()[-1])
    assert outcome == {"exit": 0, "heavy": []}, result.stderr


def test_golden_refuses_bad_inputs_with_one_line(make_fixture, tmp_path):
    weights = make_fixture("n")
    result = run_cli("golden", weights, "--inputs", "ones,nosuch.png", "-o", "golden", cwd=tmp_path)
    assert_input_error(result, "--inputs", "nosuch.png")
    assert list(tmp_path.iterdir()) == []  # nothing built, nothing left behind
    with pytest.raises(InputError, match="both be written as random-0.safetensors"):
        parse_inputs("random:0,photos/random-0.png")
    with pytest.raises(InputError, match="no input given"):
        parse_inputs(" , ")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("not a golden set")
    result = run_cli("golden", weights, "--inputs", "ones", "-o", other, cwd=tmp_path)
    assert_input_error(result, "not a golden set")
    assert [p.name for p in other.iterdir()] == ["todo.txt"]


def test_safe_names():
    assert [safe_name(s) for s in ("ones", "random:0", "data/bus.jpg", "my photo.png", "ref.safetensors")] == [
        "ones",
        "random-0",
        "bus",
        "my-photo",
        "ref",
    ]
