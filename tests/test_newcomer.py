"""A newcomer's second pass (issue 28): each finding, through the real CLI in a subprocess.

Most cases use tiny hand-made dumps (numpy + safetensors, as a foreign port writes them) so they cost well under a
second each; the few that need a model use the n fixture at a small imgsz.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.conftest import ROOT, assert_input_error, run_cli

LONG = "model.13.m.0.cv1.conv"  # a depth-all key name that the table used to cut


def tiny_dump(
    path: Path, keys=("model.0", "model.1", "model.2"), scale: float = 1.0, floor: bool = True, input=None, **extra
):
    """A small dump in the interchange format: `input` plus one (1, 4, 8, 8) tensor per key; `scale` multiplies
    every output (1.0: identical to another dump made with the same arguments)."""
    rng = np.random.default_rng(0)
    tensors = {"input": np.ones((1, 3, 32, 32), np.float32) if input is None else input}
    for key in keys:
        tensors[key] = (rng.standard_normal((1, 4, 8, 8)) * scale).astype(np.float32)
    for key, value in extra.items():
        tensors[key] = value
    meta = {
        "format": "yolo10port-dump/1",
        "input": "ones:" + "x".join(map(str, tensors["input"].shape)),
        "order": json.dumps(list(tensors)),
        "module_types": json.dumps({key: "Conv" for key in keys}),
    }
    if floor:
        meta["noise_floor"] = json.dumps({key: 1e-6 for key in keys})
        meta["noise_floor_mean"] = json.dumps({key: 1e-7 for key in keys})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path


# --- 6: a --require pattern that matches nothing -----------------------------------------------------------------


def test_require_pattern_matching_nothing_is_an_input_error(tmp_path):
    ref, cand = tiny_dump(tmp_path / "ref.safetensors"), tiny_dump(tmp_path / "cand.safetensors", keys=("model.0",))
    result = run_cli("diff", ref, cand, "--require", "model.1,model.99*")
    assert_input_error(result, "--require", "'model.99*'", "matches no key")
    assert result.stdout == ""
    # The same for a golden folder; a pattern that matches passes through to the verdict (model.1 is missing).
    (tmp_path / "golden").mkdir(), (tmp_path / "port").mkdir()
    ref.rename(tmp_path / "golden" / "ones.safetensors"), cand.rename(tmp_path / "port" / "ones.safetensors")
    assert_input_error(run_cli("diff", tmp_path / "golden", tmp_path / "port", "--require", "modle.1"), "'modle.1'")
    required = run_cli("diff", tmp_path / "golden", tmp_path / "port", "--require", "model.1")
    assert required.returncode == 1 and "model.1" in required.stdout


# --- 7: missing members of a golden set fail unless --allow-missing -----------------------------------------------


@pytest.fixture
def half_port(tmp_path):
    """A golden set of four inputs and a port that wrote dumps for two of them."""
    golden, port = tmp_path / "golden", tmp_path / "port"
    for name in ("ones", "zeros", "random-0", "bus"):
        tiny_dump(golden / f"{name}.safetensors")
    for name in ("ones", "bus"):
        tiny_dump(port / f"{name}.safetensors")
    return golden, port


def test_golden_members_the_port_did_not_write_fail_by_default(half_port):
    golden, port = half_port
    strict = run_cli("diff", golden, port)
    assert strict.returncode == 1, strict.stdout
    verdict = strict.stdout.strip().splitlines()[-1]
    assert verdict.startswith("FAIL: 2 comparisons of 4") and "random-0" in verdict and "zeros" in verdict
    junit = run_cli("diff", golden, port, "--format", "junit")
    assert junit.returncode == 1 and junit.stdout.count("<failure") == 2
    loose = run_cli("diff", golden, port, "--allow-missing", "--format", "json")
    assert loose.returncode == 0, loose.stderr
    document = json.loads(loose.stdout)
    assert document["pass"] and sorted(document["missing_comparisons"]) == ["random-0", "zeros"]
    assert document["required_missing_comparisons"] == [] and "--allow-missing" in document["verdict"]
    assert "--allow-missing" in loose.stderr and "of 4" in loose.stderr  # the verdict says it was loosened


def test_the_ci_example_stays_strict():
    workflow = (ROOT / "examples" / "ci" / "port-parity.yml").read_text()
    diff_lines = [line for line in workflow.splitlines() if line.strip().startswith("yolo10port diff")]
    assert diff_lines and not any("--allow-missing" in line for line in diff_lines)


# --- 8: check --e2e runs the candidate the user named ------------------------------------------------------------


@pytest.fixture(scope="module")
def bus():
    from yolo10port.workflows.selftest.run import bundled_image

    return bundled_image("bus.jpg")


@pytest.fixture(scope="module")
def graphs(make_fixture, tmp_path_factory):
    """The n fixture's ONNX export at 320, dynamic, and the same graph with its input pinned to 1×3×320×320."""
    import onnx

    folder = tmp_path_factory.mktemp("graphs")
    weights = make_fixture("n")
    dynamic = folder / "n-dynamic.onnx"
    assert run_cli("onnx", weights, "--imgsz", "320", "--dynamic", "-o", dynamic).returncode == 0
    model = onnx.load(str(dynamic))
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 3, 320, 320)):
        dim.ClearField("dim_param")
        dim.dim_value = size
    static = folder / "n-static.onnx"
    onnx.save(model, str(static))
    return {"weights": weights, "dynamic": dynamic, "static": static}


def test_e2e_runs_the_named_onnx_candidate(graphs, bus):
    weights = graphs["weights"]
    result = run_cli("check", weights, "--candidate", graphs["dynamic"], "--input", bus, "--imgsz", "320", "--e2e")
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "end to end on bus.jpg" in line]
    assert "ONNX Runtime" in line and "n-dynamic.onnx" in line and "clean model" not in line, line
    assert "300/300 boxes matched" in line and line.rstrip().endswith("PASS"), line
    # A static graph cannot take the rectangle ultralytics' predictor feeds: refused up front, naming the fix.
    refused = run_cli(
        "check", weights, "--candidate", graphs["static"], "--input", bus, "--imgsz", "320", "--square", "--e2e"
    )
    assert_input_error(refused, "--e2e", "static", "--dynamic")


# --- 11: run on a static graph with a rectangular dump suggests --square, before loading the runtime -------------


def test_run_static_graph_on_a_rectangle_dump_says_square_before_loading_the_runtime(graphs, tmp_path):
    import subprocess
    import sys

    rectangle = tiny_dump(tmp_path / "ref.safetensors", input=np.full((1, 3, 320, 256), 0.5, np.float32))
    code = (
        "import json, sys\n"
        "from yolo10port.cli import main\n"
        f"sys.argv = ['yolo10port', 'run', {str(graphs['static'])!r}, '--input', {str(rectangle)!r}]\n"
        "status = 0\n"
        "try:\n    main()\nexcept SystemExit as end:\n    status = end.code\n"
        "runtimes = sorted(name for name in ('onnxruntime', 'openvino') if name in sys.modules)\n"
        "print(json.dumps({'exit': status, 'runtimes': runtimes}), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    *message, outcome = result.stderr.strip().splitlines()
    assert json.loads(outcome) == {"exit": 2, "runtimes": []}, result.stderr
    (line,) = message
    assert "--square" in line and "ref.safetensors holds a 1×3×320×256 input" in line, line
    assert "--imgsz 320 --batch 1" not in line and "--dynamic" in line, line


# --- 12: inspect of a golden folder ------------------------------------------------------------------------------


def tiny_golden(folder: Path, names=("ones", "bus")) -> Path:
    """A golden set as `golden` writes it (index.json with each dump's sha256 and keys), from tiny dumps."""
    import hashlib

    inputs = {}
    for name in names:
        dump = tiny_dump(folder / f"{name}.safetensors")
        keys = [{"key": k, "shape": [1, 4, 8, 8], "dtype": "F32", "noise_floor": {k: 1e-6}} for k in ("model.0",)]
        inputs[name] = {
            "file": dump.name,
            "input": name,
            "spec": "ones:1x3x32x32",
            "sha256": hashlib.sha256(dump.read_bytes()).hexdigest(),
            "keys": keys,
        }
    index = {"format": "yolo10port-golden/1", "weights": "yolov10n.pt", "weights_sha256": "ab" * 32, "imgsz": 32}
    (folder / "index.json").write_text(json.dumps({**index, "inputs": inputs}))
    return folder


def test_inspect_golden_folder_shows_index_inputs_and_integrity(tmp_path):
    golden = tiny_golden(tmp_path / "golden")
    intact = run_cli("inspect", golden)
    assert intact.returncode == 0, intact.stderr
    assert (
        "yolo10port-golden/1 golden set, 2 inputs" in intact.stdout and "weights_sha256: " + "ab" * 32 in intact.stdout
    )
    assert "bus.safetensors" in intact.stdout and "intact" in intact.stdout
    tiny_dump(golden / "bus.safetensors", scale=2.0)  # changed after the index was written
    (golden / "ones.safetensors").unlink()
    broken = run_cli("inspect", golden, "--format", "json")
    assert broken.returncode == 1
    document = json.loads(broken.stdout)
    problems = {entry["name"]: entry["problems"] for entry in document["inputs"]}
    assert problems["ones"] == ["missing"] and "sha256 differs" in problems["bus"][0] and not document["intact"]


# --- 2: README's example blocks run in order -------------------------------------------------------------------

SMALL = ("--imgsz", "256")  # the only change to README's lines: a small input size where a command takes one


def readme_block(after: str) -> list[list[str]]:
    """The `yolo10port …` lines of the first code block after the line starting with `after`, comments dropped."""
    import shlex

    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after))
    opening = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    closing = next(i for i in range(opening + 1, len(lines)) if lines[i].startswith("```"))
    words = [shlex.split(line, comments=True) for line in lines[opening + 1 : closing]]
    return [w for w in words if w and w[0] == "yolo10port"]


@pytest.mark.extended
def test_readme_examples_run_in_order(make_fixture, tmp_path, bus):
    import shutil

    shutil.copy(make_fixture("n"), tmp_path / "yolov10s.pt")  # a fixture under README's file name
    shutil.copy(bus, tmp_path / "bus.jpg")
    blocks = [readme_block("Examples, in order"), readme_block("## Your ONNX file as a candidate")]
    assert len(blocks[0]) >= 5 and len(blocks[1]) >= 4
    for block in blocks:
        for words in block:
            args = words[1:]
            if args[0] in ("dump", "onnx", "check") and "--imgsz" not in args:
                args += SMALL
            result = run_cli(*args, cwd=tmp_path)
            assert result.returncode == 0, (words, result.stdout[-2000:], result.stderr[-2000:])
    assert {"ref.safetensors", "clean.safetensors", "parity.xml", "ov.safetensors", "errors.json"} <= {
        p.name for p in tmp_path.iterdir()
    }


# --- 1 and 10: the light install, from the documented line, in a fresh venv -------------------------------------


@pytest.mark.slow
def test_light_install_from_a_checkout_in_a_fresh_venv(tmp_path):
    """README's light line (`pip install ./yolo10port`) on a copy of the checkout, in a venv without
    --system-site-packages: no torch comes with it, `diff` works, and a full-install command names the pip line
    that adds [full] from the same folder."""
    import shutil
    import subprocess
    import sys

    checkout = tmp_path / "yolo10port"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, checkout / name)
    shutil.copytree(ROOT / "yolo10port", checkout / "yolo10port", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    install = subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "./yolo10port"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    python, tool = venv / "bin" / "python", venv / "bin" / "yolo10port"
    assert subprocess.run([python, "-c", "import torch"], capture_output=True).returncode != 0  # light: no torch
    ref, same = tiny_dump(tmp_path / "ref.safetensors"), tiny_dump(tmp_path / "same.safetensors")
    off = tiny_dump(tmp_path / "off.safetensors", scale=1.01)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH: the installed copy

    def light(*args):
        return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)

    assert light("diff", ref, same).returncode == 0
    breach = light("diff", ref, off)
    assert breach.returncode == 1 and "first failure at model.0" in breach.stdout, breach.stdout
    golden = tiny_golden(tmp_path / "golden")
    shown = light("inspect", golden)
    assert shown.returncode == 0 and "intact" in shown.stdout, shown.stdout + shown.stderr
    needs_full = light("fixture", "--scale", "n", "-o", tmp_path / "n.pt")
    assert_input_error(needs_full, "light install", f"pip install '{checkout}[full]'")


# --- 17 and 18: the table never cuts a name; -o keeps the table out of stdout -------------------------------------

LONG_KEYS = (
    "model.13.m.0.cv1.conv",
    "model.13.m.0.cv1.bn",
    "model.13.m.0.cv2.conv",
    "model.22.m.0.m.0.0.cv1.conv.some.long.submodule.path",
)


def _in_a_terminal(args, columns: int) -> str:
    """Run the CLI with its stdout on a pseudo-terminal `columns` wide (what a user at a narrow terminal sees)."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    process = subprocess.Popen([sys.executable, "-m", "yolo10port.cli", *map(str, args)], stdout=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [None, 80])
def test_table_never_cuts_a_layer_name(tmp_path, columns):
    ref = tiny_dump(tmp_path / "ref.safetensors", keys=LONG_KEYS)
    cand = tiny_dump(tmp_path / "cand.safetensors", keys=LONG_KEYS, scale=1.01)
    args = ["diff", ref, cand, "--layer", "13,22"]
    table = run_cli(*args).stdout if columns is None else _in_a_terminal(args, columns)
    assert "…" not in table, table
    for key in LONG_KEYS:
        (line,) = [line for line in table.splitlines() if line.startswith(f"│ {key} ")]
        assert re.search(r"\d\.\d\de-0\d", line) and "FAIL" in line, line  # numbers and result whole


def test_diff_table_to_a_file_prints_only_the_verdict(tmp_path):
    ref = tiny_dump(tmp_path / "ref.safetensors", keys=LONG_KEYS)
    cand = tiny_dump(tmp_path / "cand.safetensors", keys=LONG_KEYS, scale=1.01)
    result = run_cli("diff", ref, cand, "-o", tmp_path / "report.txt")
    assert result.returncode == 1
    assert result.stdout.strip().startswith("FAIL: first failure at model.13.m.0.cv1.conv"), result.stdout
    assert len(result.stdout.strip().splitlines()) == 1 and "│" not in result.stdout
    written = (tmp_path / "report.txt").read_text()
    assert "max-abs" in written and all(key in written for key in LONG_KEYS) and "…" not in written


# --- 9, 13, 14: help defaults from the code, --k-mean, TOML messages ----------------------------------------------


def _flat(text: str) -> str:
    """Help text without rich's box drawing and line breaks, for phrase matching."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_help_defaults_come_from_the_rule():
    from yolo10port.cli.tolerance_options import short_number
    from yolo10port.compare.rules import DEFAULT_ATOL, DEFAULT_RTOL, K_MEAN, K

    for command in ("diff", "check"):
        text = _flat(run_cli(command, "--help").stdout)
        for phrase in (f"(default {K:g})", f"(default {K_MEAN:g})", f"(default {short_number(DEFAULT_ATOL)})"):
            assert phrase in text, (command, phrase, text)
        assert f"(default {short_number(DEFAULT_RTOL)})" in text and "--k-mean" in text
        assert "default 16" not in text


def _shifted(ref: Path, out: Path, offset: float) -> Path:
    """A copy of a dump with every output moved by `offset`: a small error everywhere (mean-abs = max-abs)."""
    from safetensors import safe_open

    with safe_open(str(ref), "np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) + (0 if k == "input" else np.float32(offset)) for k in f.keys()}
    save_file(tensors, str(out), metadata=meta)
    return out


def test_k_mean_loosens_the_mean_abs_limit(tmp_path):
    ref = tiny_dump(tmp_path / "ref.safetensors", keys=("model.0",))
    # max|ref| 3.1: max-abs 5.5e-5 is within K = 6 (limit 7.5e-5), mean-abs 5.5e-5 is not within K_mean = 3.5 (4.3e-5)
    cand = _shifted(ref, tmp_path / "cand.safetensors", 5.5e-5)
    wide_k = run_cli("diff", ref, cand, "--k", "1000")
    assert wide_k.returncode == 1 and "mean-abs" in wide_k.stdout  # K alone cannot loosen the mean-abs test
    assert run_cli("diff", ref, cand, "--k", "1000", "--k-mean", "1000").returncode == 0
    assert run_cli("diff", ref, cand, "--k-mean", "1000").returncode == 0  # max-abs is within K = 6 already
    assert_input_error(run_cli("diff", ref, cand, "--k-mean", "-1"), "--k-mean", "negative")


def test_toml_errors_name_the_section_in_one_clean_line(tmp_path):
    ref = tiny_dump(tmp_path / "ref.safetensors")
    bad = tmp_path / "bad.toml"
    bad.write_text('[default]\nk = "six"\n')
    result = run_cli("diff", ref, ref, "--tolerances", bad)
    assert_input_error(result, f"{bad}: [default] k must be a number, not 'six'")
    assert "  " not in result.stderr.strip()
    bad.write_text('[layers."model.1*"]\nk_mean = "x"\n')
    assert_input_error(run_cli("diff", ref, ref, "--tolerances", bad), "[layers.'model.1*'] k_mean must be a number")


# --- 3: the README's command rows list only options the command takes --------------------------------------------


@pytest.mark.parametrize("command", ["diff", "check"])
def test_readme_command_row_lists_only_real_options(command):
    readme = (ROOT / "README.md").read_text()
    head = {"diff": "| `diff REF CAND", "check": "| `check MODEL"}[command]
    (row,) = [line for line in readme.splitlines() if line.startswith(head)]
    usage = row.split("`")[1]
    listed = set(re.findall(r"--[a-z][a-z0-9-]*", usage))
    assert "[diff options]" not in usage and listed
    text = _flat(run_cli(command, "--help").stdout)
    for option in listed:
        assert f"{option} " in text or f"{option}," in text, (command, option)


# --- 15: detect says where its image size came from --------------------------------------------------------------


def test_detect_says_truthfully_where_imgsz_came_from(make_fixture, tmp_path, bus):
    untrained = run_cli("detect", make_fixture("n"), bus, "-o", tmp_path / "n.png")
    assert untrained.returncode == 0, untrained.stderr
    assert "imgsz 640 (the default: the checkpoint was never trained" in untrained.stderr
    assert "trained at" not in untrained.stderr
    trained = run_cli("detect", ROOT / "detector" / "yolov10n-shapes.pt", bus, "-o", tmp_path / "shapes.png")
    assert trained.returncode == 0 and "imgsz 256 (the size it was trained at" in trained.stderr, trained.stderr


# --- 19: --plot says what it drew, names the right submodule, splits the head, keeps the useful range -------------


def _depth_all_pair(folder: Path) -> tuple[Path, Path]:
    """Depth-all-like dumps (> 40 rows, so the plot groups by layer): in the candidate model.13's cv1.conv is off a
    little (where the error starts), cv2.bn a lot (the largest error), and the head's class branch is off while its
    boxes are exact."""
    from safetensors import safe_open

    keys = [k for i in range(23) for k in (f"model.{i}.cv1.conv", f"model.{i}.cv2.bn", f"model.{i}")]
    keys += ["model.23.one2one_cv2.0", "model.23.one2one_cv3.0"]
    head = np.random.default_rng(1).random((1, 6, 8)).astype(np.float32)
    ref = tiny_dump(folder / "ref.safetensors", keys=keys, **{"model.23": head})
    offsets = {"model.13.cv1.conv": 1e-3, "model.13.cv2.bn": 1e-1, "model.13": 1e-2, "model.23.one2one_cv3.0": 1e-2}
    with safe_open(str(ref), "np") as f:
        meta = {**f.metadata(), "order": json.dumps(["input", *keys, "model.23"])}
        tensors = {k: f.get_tensor(k) + np.float32(offsets.get(k, 0.0)) for k in f.keys()}
    tensors["model.23"][:, 4:] += np.float32(0.01)  # scores off, boxes exact
    cand = folder / "cand.safetensors"
    save_file(tensors, str(cand), metadata=meta)
    return ref, cand


def test_plot_labels_axes_and_message(tmp_path):
    ref, cand = _depth_all_pair(tmp_path)
    failing = run_cli("diff", ref, cand, "--plot", tmp_path / "fail.svg")
    assert failing.returncode == 1
    assert "plot of the per-layer errors → " in failing.stderr and "error plot" not in failing.stderr
    svg = (tmp_path / "fail.svg").read_text()
    assert "model.13  (first failing: .cv1.conv)" in svg and "cv2.bn" not in svg  # where it starts, not the largest
    assert "model.23/scores  (first failing: .one2one_cv3.0)" in svg
    assert "model.23/boxes</text>" in svg or "model.23/boxes <" in svg or ">model.23/boxes<" in svg  # passed, apart
    assert "worst" not in svg and "1e-12" not in svg and "drawn at 1e-06" in svg
    exact = run_cli("diff", ref, ref, "--plot", tmp_path / "same.svg")
    assert exact.returncode == 0
    same = (tmp_path / "same.svg").read_text()
    assert "first failing" not in same and "closest" not in same and "worst" not in same


# --- 20: Model Explorer data for a foreign dump, keyed by module path --------------------------------------------


def test_model_explorer_data_for_a_foreign_dump_is_keyed_by_module_path(tmp_path):
    keys = ("model.0", "model.13.cv1.conv", "model.13")
    ref = tiny_dump(tmp_path / "ref.safetensors", keys=keys)
    cand = _shifted(ref, tmp_path / "cand.safetensors", 1e-2)  # every row off: all fail
    result = run_cli("diff", ref, ref, "--format", "model-explorer")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"results"} and set(data["results"]) == set(keys)
    assert {r["bgColor"] for r in data["results"].values()} == {"#a5d6a7"} and data["results"]["model.0"]["value"] == 0
    failing = run_cli("diff", ref, cand, "--format", "model-explorer", "-o", tmp_path / "nodes.json")
    assert failing.returncode == 1 and failing.stdout.startswith("FAIL")
    nodes = json.loads((tmp_path / "nodes.json").read_text())["results"]
    assert nodes["model.13.cv1.conv"]["bgColor"] == "#ef9a9a" and nodes["model.13.cv1.conv"]["value"] > 0


# --- 21: --threads everywhere a model runs; bench warns on a shared CPU --------------------------------------------

MODEL_COMMANDS = ("dump", "run", "check", "golden", "selftest", "detect", "bench", "onnx", "fixture")


def test_threads_option_on_every_command_that_runs_a_model(graphs, tmp_path):
    for command in MODEL_COMMANDS:
        assert "--threads" in _flat(run_cli(command, "--help").stdout), command
    assert_input_error(run_cli("dump", graphs["weights"], "--threads", "0"), "--threads", "not a positive number")
    out = tmp_path / "one-thread.safetensors"
    result = run_cli("run", graphs["dynamic"], "--imgsz", "160", "--threads", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    from safetensors import safe_open

    with safe_open(str(out), "np") as f:
        assert f.metadata()["threads"] == "1"  # what ONNX Runtime was told


@pytest.mark.extended
def test_bench_warns_on_a_shared_cpu_instead_of_printing_ratios(make_fixture, tmp_path):
    import shutil
    import subprocess
    import sys

    from yolo10port.threads import available

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    shutil.copy(make_fixture("n"), fixtures / "yolov10n-fixture.pt")  # what the bench would build: seed 0, nc 80
    threads = max(available(), 2)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(threads + 1)]
    try:
        time.sleep(1)
        result = run_cli(
            "bench", "--scales", "n", "--repeat", "1", "--imgsz", "160", "--check-scales", "", "--memory-scale", "",
            "--no-graphs", "--fixtures", fixtures, "--threads", str(threads), "--json", tmp_path / "bench.json",
        )  # fmt: skip
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert result.returncode == 0, result.stderr
    assert "warning: the CPU is shared right now" in " ".join(result.stderr.split()), result.stderr
    table = " ".join(result.stdout.split())
    assert "CPU contended: ratios withheld" in table and "ms)" in table
    assert not re.search(r"\d\.\d\d \(\d", table), table  # no "0.73 (44.3 ms)" ratio cell
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["contention"]["contended"] and all(row["ratios"] is None for row in figures["latency"])


# --- 16: the selftest table's wording ------------------------------------------------------------------------------


@pytest.mark.extended
def test_selftest_table_says_what_was_planted_and_has_a_legend(make_fixture):
    from yolo10port.workflows.selftest.mutations import WEIGHT_MUTATIONS

    # The 23 one-weight bugs cost minutes through the CLI: their wording is checked on the list the CLI renders.
    bugs = {m.name: m.bug for m in WEIGHT_MUTATIONS}
    assert bugs["weight×1.001-model.11"] == "the output of model.11 (Upsample, no weights) × 1.001"
    assert bugs["weight×1.001-model.12"] == "the output of model.12 (Concat, no weights) × 1.001"
    assert bugs["weight×1.001-model.13"] == "one weight of model.13 × 1.001"
    result = run_cli(
        "selftest", make_fixture("n"), "--inputs", "random:0", "--honest", "clean", "--imgsz", "64", "--no-weights"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    text = " ".join(result.stdout.split())
    assert "legend: (n×) after a layer = how far past its limit" in text
    assert "1 input kinds" not in text and "(n×) = error" not in text
