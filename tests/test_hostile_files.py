"""Files are the user's (DESIGN): hostile and careless output paths, and golden sets changed after the fact.

Each corpus case builds its files in its own folder, runs the real CLI in a subprocess, and must end in exit 2 with
one line naming the file or option, and leave the folder exactly as it was: nothing deleted, nothing overwritten,
no output and no scratch file left. The tests after the corpus cover what a refusal cannot show: a legal 252-byte
output name works, the scratch of a SIGKILLed run is cleaned by the next run, outputs commit together or not at all,
and an earlier golden set is still replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from tests.conftest import ROOT, assert_input_error, run_cli
from yolo10port.atomic import SCRATCH_NAME, OutputTransaction, atomic_path, scratch_path, write_text_atomic
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.reference.dump import dump_reference
from yolo10port.weights.export import export_weights
from yolo10port.workflows.golden import make_golden, parse_inputs

IMGSZ = "64"  # every forward here is the n fixture at 64: the cases are about files, not numbers


@dataclass
class Case:
    args: list
    fragments: tuple[str, ...]
    limit_file_size: int | None = None  # bytes: a full disk
    links: list[Path] = field(default_factory=list)  # must still be symbolic links afterwards
    progress: bool = False  # golden prints progress lines on stderr before the error: the last line is the error


CASES: dict[str, Callable] = {}


def case(func: Callable) -> Callable:
    CASES[func.__name__.replace("_", "-")] = func
    return func


@pytest.fixture(scope="module")
def env(make_fixture, tmp_path_factory):
    """Good files the cases copy: the n fixture, its export, a reference dump and a golden set, all at imgsz 64."""
    folder = tmp_path_factory.mktemp("hostile-files")
    model = make_fixture("n")
    spec = RunSpec(imgsz=int(IMGSZ))
    return {
        "model": model,
        "weights": export_weights(model, folder / "w.safetensors").out,
        "ref": dump_reference(model, folder / "ref.safetensors", spec),
        "golden": make_golden(model, folder / "golden", parse_inputs("ones"), spec),
    }


def copy(env, folder: Path, *names: str) -> list[Path]:
    copies = []
    for name in names:
        source, target = env[name], folder / env[name].name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, target)
        copies.append(target)
    return copies


def edit_dump(path: Path, edit: Callable[[dict, dict], None], out: Path | None = None) -> Path:
    """Rewrite a dump with plain safetensors after `edit(tensors, metadata)`: what an editor of the file does."""
    with safe_open(str(path), "np") as handle:
        tensors, meta = {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata())
    edit(tensors, meta)
    save_file(tensors, str(out or path), metadata=meta)
    return out or path


def set_floors(value: float) -> Callable[[dict, dict], None]:
    def edit(_tensors: dict, meta: dict) -> None:
        meta["noise_floor"] = json.dumps({row: value for row in json.loads(meta["noise_floor"])})

    return edit


# --- 1. golden -o replaces only a set it can prove it wrote ---------------------------------------------------


@case
def golden_over_a_folder_with_a_bare_index(env, folder):
    """The issue's reproduction: mkdir p; echo '{}' > p/index.json; echo x > p/keep.txt."""
    (folder / "p").mkdir()
    (folder / "p" / "index.json").write_text("{}\n")
    (folder / "p" / "keep.txt").write_text("x\n")
    return Case(["golden", env["model"], "--inputs", "ones", "-o", "p"], ("p:", "not a golden set this tool wrote"))


@case
def golden_over_a_set_with_an_added_file(env, folder):
    (golden,) = copy(env, folder, "golden")
    (golden / "notes.txt").write_text("mine\n")
    return Case(["golden", env["model"], "--inputs", "ones", "-o", golden], ("also holds notes.txt",))


@case
def golden_over_a_set_with_an_added_folder(env, folder):
    (golden,) = copy(env, folder, "golden")
    (golden / "ones.safetensors.d").mkdir()
    (golden / "ones.safetensors.d" / "keep.bin").write_bytes(b"\0" * 10)
    return Case(["golden", env["model"], "--inputs", "ones", "-o", golden], ("ones.safetensors.d",))


@case
def golden_over_a_folder_holding_the_weights(env, folder):
    (folder / "out").mkdir()
    model = folder / "out" / "n.pt"
    shutil.copyfile(env["model"], model)
    return Case(["golden", model, "--inputs", "ones", "-o", "out"], ("out:", "holds the input"))


@case
def golden_over_a_link_to_a_set(env, folder):
    (golden,) = copy(env, folder, "golden")
    (folder / "link").symlink_to(golden)
    return Case(
        ["golden", env["model"], "--inputs", "ones", "-o", "link"], ("link:", "symbolic link"), links=[folder / "link"]
    )


@case
def golden_disk_full_names_the_output(env, folder):
    return Case(
        ["golden", env["model"], "--inputs", "ones", "--imgsz", IMGSZ, "-o", "g"],
        ("error: g: cannot write the output",),
        limit_file_size=64 << 10,
        progress=True,
    )


@case
def fixture_disk_full_names_the_output(env, folder):
    # torch's zip writer reports a full disk as a C++ RuntimeError ("unexpected pos"), not as an OSError
    return Case(
        ["fixture", "--scale", "n", "-o", "n.pt"], ("error: n.pt: cannot write the output",), limit_file_size=1 << 20
    )


# --- 2. no output on an input, by path or inode; no two outputs on one file -----------------------------------


@case
def dump_onto_its_input_photo(env, folder):
    photo = folder / "photo.png"
    import cv2

    cv2.imwrite(str(photo), np.full((48, 64, 3), 90, np.uint8))
    return Case(["dump", env["model"], "--input", photo, "-o", photo], ("photo.png", "-o", "same as an input"))


@case
def dump_summary_onto_the_checkpoint(env, folder):
    (model,) = copy(env, folder, "model")
    return Case(
        ["dump", model, "--summary", model, "-o", "out.safetensors"], (model.name, "--summary", "same as an input")
    )


@case
def run_onto_its_input_dump(env, folder):
    weights, ref = copy(env, folder, "weights", "ref")
    return Case(["run", weights, "--input", ref, "-o", ref], ("ref.safetensors", "-o", "same as an input"))


@case
def export_manifest_onto_the_input(env, folder):
    """`export w.manifest.json -o w.safetensors`: the manifest beside -o is the input itself."""
    manifest = folder / "w.manifest.json"
    manifest.write_text("{}\n")
    return Case(["export", manifest, "-o", "w.safetensors"], ("w.manifest.json", "manifest", "same as an input"))


@case
def dump_onto_a_hard_link_of_the_checkpoint(env, folder):
    (model,) = copy(env, folder, "model")
    os.link(model, folder / "other-name.safetensors")
    return Case(["dump", model, "-o", "other-name.safetensors"], ("other-name.safetensors", "same as an input"))


@case
def diff_report_onto_the_reference_by_another_spelling(env, folder):
    (ref,) = copy(env, folder, "ref")
    (folder / "sub").mkdir()
    return Case(["diff", ref, ref, "-o", "sub/../ref.safetensors"], ("sub/../ref.safetensors", "same as an input"))


@case
def diff_report_onto_the_tolerance_file(env, folder):
    (ref,) = copy(env, folder, "ref")
    (folder / "t.toml").write_text("k = 8\n")
    return Case(["diff", ref, ref, "--tolerances", "t.toml", "-o", "t.toml"], ("t.toml", "same as an input"))


@case
def diff_report_into_a_golden_dump(env, folder):
    (golden,) = copy(env, folder, "golden")
    return Case(["diff", golden, golden, "-o", golden / "ones.safetensors"], ("ones.safetensors", "same as an input"))


@case
def check_workdir_dump_onto_its_input(env, folder):
    (folder / "work").mkdir()
    model = folder / "n.pt"
    shutil.copyfile(env["model"], model)
    shutil.copyfile(env["ref"], folder / "work" / "n.reference.safetensors")
    return Case(
        ["check", model, "--input", "work/n.reference.safetensors", "--workdir", "work", "--imgsz", IMGSZ],
        ("n.reference.safetensors", "--workdir", "same as an input"),
    )


@case
def diff_report_and_plot_on_one_file(env, folder):
    (ref,) = copy(env, folder, "ref")
    return Case(["diff", ref, ref, "-o", "r.txt", "--plot", "r.txt"], ("r.txt", "--plot", "same file as the -o"))


@case
def dump_and_summary_on_one_file(env, folder):
    return Case(
        ["dump", env["model"], "-o", "d.safetensors", "--summary", "d.safetensors"], ("--summary", "same file as")
    )


@case
def dump_over_someone_elses_safetensors(env, folder):
    """Not an input, but not ours either: Hugging Face weights, say. Only a dump or export we wrote is replaced."""
    save_file({"w": np.ones(4, np.float32)}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return Case(["dump", env["model"], "-o", "model.safetensors"], ("model.safetensors", "not a dump or export"))


# --- 3. outputs are validated together, before any is written --------------------------------------------------


@case
def export_manifest_path_is_a_folder(env, folder):
    (folder / "out.manifest.json").mkdir()
    return Case(["export", env["model"], "-o", "out.safetensors"], ("out.manifest.json", "is a directory"))


@case
def dump_summary_folder_missing(env, folder):
    return Case(
        ["dump", env["model"], "-o", "d.safetensors", "--summary", "nope/s.json", "--imgsz", IMGSZ],
        ("nope/s.json", "--summary", "does not exist"),
    )


@case
def diff_plot_folder_missing(env, folder):
    (ref,) = copy(env, folder, "ref")
    return Case(["diff", ref, ref, "-o", "r.md", "--plot", "nope/p.png"], ("nope/p.png", "--plot", "does not exist"))


# --- 4. links and non-regular files are never replaced ---------------------------------------------------------


@case
def dump_through_a_symlink(env, folder):
    target = folder / "precious.safetensors"
    target.write_bytes(b"not ours")
    (folder / "link.safetensors").symlink_to(target.name)
    return Case(
        ["dump", env["model"], "-o", "link.safetensors"],
        ("link.safetensors", "symbolic link to precious.safetensors"),
        links=[folder / "link.safetensors"],
    )


@case
def diff_report_to_dev_stdout(env, folder):
    (ref,) = copy(env, folder, "ref")
    return Case(["diff", ref, ref, "--format", "json", "-o", "/dev/stdout"], ("/dev/stdout", "symbolic link"))


@case
def diff_report_to_dev_null(env, folder):
    (ref,) = copy(env, folder, "ref")
    return Case(["diff", ref, ref, "-o", "/dev/null"], ("/dev/null", "not a regular file"))


@case
def diff_report_to_a_fifo(env, folder):
    (ref,) = copy(env, folder, "ref")
    os.mkfifo(folder / "fifo")
    return Case(["diff", ref, ref, "--format", "junit", "-o", "fifo"], ("fifo", "not a regular file"))


# --- 7. a golden set is verified against its index before it is trusted ---------------------------------------


@case
def golden_dump_floors_edited(env, folder):
    """The issue's case: floors set to 1e30 after the fact, judged against an all-zeros candidate."""
    (golden,) = copy(env, folder, "golden")
    edit_dump(golden / "ones.safetensors", set_floors(1e30))
    (folder / "cand").mkdir()
    zeros = lambda tensors, meta: tensors.update({k: v * 0 for k, v in tensors.items() if k != "input"})  # noqa: E731
    edit_dump(env["ref"], zeros, folder / "cand" / "ones.safetensors")
    return Case(["diff", golden, "cand"], ("golden/ones.safetensors", "sha256", "index.json"))


@case
def golden_dump_truncated(env, folder):
    (golden,) = copy(env, folder, "golden")
    dump = golden / "ones.safetensors"
    dump.write_bytes(dump.read_bytes()[:-4096])
    return Case(["diff", golden, golden], ("golden/ones.safetensors", "sha256"))


@case
def golden_dump_added_after_the_fact(env, folder):
    (golden,) = copy(env, folder, "golden")
    shutil.copyfile(golden / "ones.safetensors", golden / "zeros.safetensors")
    return Case(["diff", golden, golden], ("golden/zeros.safetensors", "not listed in"))


@case
def golden_dump_missing(env, folder):
    (golden,) = copy(env, folder, "golden")
    index = json.loads((golden / "index.json").read_text())
    index["inputs"]["random-0"] = {**index["inputs"]["ones"], "file": "random-0.safetensors"}
    (golden / "index.json").write_text(json.dumps(index))
    return Case(["diff", golden, golden], ("golden/random-0.safetensors", "listed in", "missing"))


@case
def golden_index_of_another_format(env, folder):
    (golden,) = copy(env, folder, "golden")
    index = json.loads((golden / "index.json").read_text())
    (golden / "index.json").write_text(json.dumps({**index, "format": "something-else/9"}))
    return Case(["diff", golden, golden], ("golden/index.json", "does not say format yolo10port-golden/1"))


@case
def reference_floor_absurd(env, folder):
    """Without an index the floors are still bounded by their rows: 1e30 on a row whose max|ref| is a few units."""
    ref = edit_dump(env["ref"], set_floors(1e30), folder / "ref.safetensors")
    return Case(
        ["diff", ref, env["ref"]], ("ref.safetensors", "noise floor of model.0 is 1e+30", "larger than its row")
    )


@case
def reference_floor_negative(env, folder):
    ref = edit_dump(env["ref"], set_floors(-1.0), folder / "ref.safetensors")
    # refused as the reference is read (dumps/validate.py)
    return Case(["diff", ref, env["ref"]], (str(ref), "negative floor -1.0"))


# --- running the corpus -------------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under the folder: files with their sha256, links with their target, folders as such."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            state[str(path)] = "link → " + os.readlink(path)
        elif path.is_file():
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[str(path)] = "folder" if path.is_dir() else "special"
    return state


@pytest.fixture(scope="module")
def outcomes(env, tmp_path_factory) -> dict[str, tuple[Case, subprocess.CompletedProcess, list[str]]]:
    specs = {}
    for name, make in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        specs[name] = (make(env, folder), folder)
    shared_before = snapshot(env["model"].parent) | snapshot(env["ref"].parent)

    def run(name: str):
        spec, folder = specs[name]
        before = snapshot(folder)
        result = run_cli(*spec.args, cwd=folder, limit_file_size=spec.limit_file_size)
        after = snapshot(folder)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return spec, result, changed

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(specs, pool.map(run, specs)))
    assert snapshot(env["model"].parent) | snapshot(env["ref"].parent) == shared_before, "a shared input changed"
    lines = [f"{name} → exit {result.returncode}: {result.stderr.strip()}" for name, (_, result, _) in results.items()]
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "hostile-file-messages.txt").write_text("\n".join(lines) + "\n")
    return results


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_file(name, outcomes):
    spec, result, changed = outcomes[name]
    if spec.progress:
        assert result.stderr.splitlines()[:-1] == [line for line in result.stderr.splitlines() if line.startswith("[")]
        result = subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout, result.stderr.splitlines()[-1]
        )
    assert_input_error(result, *spec.fragments)
    assert "unexpected error" not in result.stderr and ".partial" not in result.stderr, result.stderr
    assert not changed, f"the folder changed (deleted, overwritten, output or scratch left): {changed}"
    for link in spec.links:
        assert link.is_symlink(), f"{link} was replaced"
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").exists()
    assert Path("/dev/null").is_char_device()


# --- what a refusal cannot show ---------------------------------------------------------------------------------


def test_a_legal_252_byte_output_name_works(env, tmp_path):
    name = "w" * (252 - len(".safetensors")) + ".safetensors"
    assert len(name.encode()) == 252
    result = run_cli("export", env["model"], "-o", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stem = name.removesuffix(".safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"{stem}.manifest.json", f"{stem}.modules.txt"])
    assert (tmp_path / name).read_bytes() == env["weights"].read_bytes()
    long_scratch = scratch_path(tmp_path / ("é" * 127), "data")  # 254 bytes of two-byte characters
    assert len(long_scratch.name.encode()) <= 255 and SCRATCH_NAME.match(long_scratch.name)


def test_scratch_of_a_killed_run_is_removed_by_the_next_run(env, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "yolo10port.cli", "dump", env["model"], "--depth", "all", "--imgsz", "160", "-o", "d"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*partial")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "the dump finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert left and all(SCRATCH_NAME.match(p.name) and f"-{process.pid}-" in p.name for p in left), left
    alive = tmp_path / scratch_path(tmp_path / "mine.safetensors").name  # this test's own process: alive
    alive.write_bytes(b"in use")
    lookalike = tmp_path / ".notes.txt.12345.partial"  # a user's file that merely looks like scratch
    lookalike.write_text("keep me")
    result = run_cli("diff", env["ref"], env["ref"], "-o", "report.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: removed" in result.stderr and str(process.pid) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([lookalike.name, alive.name, "report.txt"])


def test_outputs_commit_together_or_not_at_all(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text("earlier run\n")
    with pytest.raises(InputError, match="disk full"), OutputTransaction([first, second]):
        write_text_atomic(first, "new\n")
        with atomic_path(second):
            raise InputError(second, "disk full")
    assert first.read_text() == "earlier run\n" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no scratch left either
    with OutputTransaction([first, second]):
        write_text_atomic(first, "new\n")
        assert first.read_text() == "earlier run\n"  # staged, not yet renamed
        write_text_atomic(second, "new\n")
    assert first.read_text() == second.read_text() == "new\n"


def test_golden_still_replaces_its_own_earlier_set(env, tmp_path):
    golden = tmp_path / "golden"
    shutil.copytree(env["golden"], golden)
    before = (golden / "index.json").read_text()
    result = run_cli("golden", env["model"], "--inputs", "random:0", "--imgsz", IMGSZ, "-o", golden)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in golden.iterdir()) == ["index.json", "random-0.safetensors"]
    assert (golden / "index.json").read_text() != before
    assert [p.name for p in tmp_path.iterdir()] == ["golden"]  # no scratch or moved-aside set left
