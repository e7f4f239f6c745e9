"""The bad-input corpus: every case runs the real CLI in a subprocess and must end in one line, no traceback,
no partial output, and every input file unchanged.

A case is a function `(env, folder) -> Case` registered with @case; it writes its bad file into `folder` (the
test's tmp_path) and says which command to run, which exit code to expect and what the one line must contain.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy

from tests.conftest import ROOT, assert_input_error, rewrite_pickle, run_cli
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.weights.export import export_weights


@dataclass
class Case:
    args: list
    fragments: tuple[str, ...]
    code: int = 2  # 1 only where the answer is a genuine parity result (a FAIL row), not an input error
    limit_file_size: int | None = None  # bytes; simulates a full disk (EFBIG instead of ENOSPC)
    output: Path | None = None  # must not exist afterwards
    not_created: list[Path] = field(default_factory=list)  # a malicious payload's side effect


CASES: dict[str, Callable] = {}


def case(func: Callable) -> Callable:
    CASES[func.__name__.replace("_", "-")] = func
    return func


@pytest.fixture(scope="module")
def env(make_fixture, tmp_path_factory):
    """Good files the bad cases start from: a fixture, its export, dumps of n and s (at 160: the cases edit keys,
    metadata and options, never a size)."""
    folder = tmp_path_factory.mktemp("corpus")
    model = make_fixture("n")
    small = RunSpec(imgsz=160)
    files = {
        "model": model,
        "weights": export_weights(model, folder / "n.safetensors").out,
        "ref": dump_reference(model, folder / "ref.safetensors", small),
        "ref_s": dump_reference(make_fixture("s"), folder / "ref_s.safetensors", small, floor=False),
        "ref_random": dump_reference(
            model, folder / "ref_random.safetensors", small.but(input="random:1"), floor=False
        ),
    }
    return files


def tensors_and_meta(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safe_open(str(path), "np") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata()


def edited_dump(env, folder: Path, edit: Callable[[dict], None]) -> Path:
    """A candidate dump written with plain safetensors + numpy, as a buggy foreign port might write it."""
    tensors, meta = tensors_and_meta(env["ref"])
    edit(tensors)
    path = folder / "candidate.safetensors"
    save_numpy(tensors, str(path), metadata=meta)
    return path


def export_to(folder: Path, source: Path, *extra) -> Case:
    out = folder / "out.safetensors"
    return Case(["export", source, "-o", out, *extra], (str(source),), output=out)


# --- checkpoints ---------------------------------------------------------------------------------------------


@case
def ckpt_missing(env, folder):
    c = export_to(folder, folder / "missing.pt")
    c.fragments += ("no such file",)
    return c


@case
def ckpt_directory(env, folder):
    (folder / "adir.pt").mkdir()
    c = export_to(folder, folder / "adir.pt")
    c.fragments += ("directory",)
    return c


def bad_checkpoint(folder: Path, name: str, write: Callable[[Path], None], reason: str) -> Case:
    path = folder / name
    write(path)
    c = export_to(folder, path)
    c.fragments += (reason,)
    return c


@case
def ckpt_empty(env, folder):
    return bad_checkpoint(folder, "empty.pt", lambda p: p.write_bytes(b""), "empty")


@case
def ckpt_truncated_zip(env, folder):
    data = env["model"].read_bytes()[:5000]
    return bad_checkpoint(folder, "truncated.pt", lambda p: p.write_bytes(data), "corrupt zip")


@case
def ckpt_text_file(env, folder):
    return bad_checkpoint(folder, "notes.pt", lambda p: p.write_text("hello"), "not a torch zip checkpoint")


@case
def ckpt_zip_without_data_pkl(env, folder):
    def write(path):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/version", "3")

    return bad_checkpoint(folder, "nopickle.pt", write, "no data.pkl")


@case
def ckpt_legacy_torch_file(env, folder):
    return bad_checkpoint(
        folder, "legacy.pt", lambda p: torch.save({"model": None}, p, _use_new_zipfile_serialization=False), "legacy"
    )


@case
def ckpt_top_level_not_a_dict(env, folder):
    return bad_checkpoint(folder, "list.pt", lambda p: torch.save([1, 2, 3], p), "not a dict")


@case
def ckpt_dict_without_model(env, folder):
    return bad_checkpoint(folder, "nomodel.pt", lambda p: torch.save({"epoch": 3}, p), "neither 'ema' nor 'model'")


@case
def ckpt_yolov8(env, folder):
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", verbose=False).half()
    c = bad_checkpoint(folder, "yolov8n.pt", lambda p: torch.save({"model": model, "ema": None}, p), "not a YOLOv10")
    c.fragments += ("yolov8n.yaml",)
    return c


def yolov10_with_head(head: list, model_class) -> object:
    from ultralytics.nn.tasks import yaml_model_load

    config = copy.deepcopy(yaml_model_load("yolov10n.yaml"))
    config["head"] = head(config["head"])
    return model_class(config, verbose=False).half()


@case
def ckpt_yolov10_segmentation_head(env, folder):
    from ultralytics.nn.tasks import SegmentationModel

    model = yolov10_with_head(lambda h: [*h[:-1], [[16, 19, 22], 1, "Segment", ["nc", 32, 256]]], SegmentationModel)
    return bad_checkpoint(folder, "seg.pt", lambda p: torch.save({"model": model}, p), "found SegmentationModel")


@case
def ckpt_yolov10_classification_head(env, folder):
    from ultralytics.nn.tasks import ClassificationModel

    model = yolov10_with_head(lambda h: [[-1, 1, "Classify", ["nc"]]], ClassificationModel)
    return bad_checkpoint(folder, "cls.pt", lambda p: torch.save({"model": model}, p), "found ClassificationModel")


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious checkpoint does."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class Trap:
    """An arbitrary importable class whose construction has a side effect (here: creating a file)."""

    def __init__(self, marker):
        Path(marker).touch()

    def __reduce__(self):
        return Trap, (self.marker,)


def malicious(folder: Path, name: str, make_payload: Callable[[Path], object]) -> Case:
    marker = folder / "pwned"
    path = folder / f"{name}.pt"
    torch.save({"model": make_payload(marker), "ema": None}, path)
    return Case(["inspect", path], (str(path), "refused unsafe pickle"), not_created=[marker])


@case
def ckpt_malicious_os_system(env, folder):
    return malicious(folder, "system", lambda m: Payload(os.system, (f"touch {m}",)))


@case
def ckpt_malicious_eval(env, folder):
    return malicious(folder, "eval", lambda m: Payload(eval, (f"open({str(m)!r}, 'w')",)))


@case
def ckpt_malicious_subprocess(env, folder):
    return malicious(folder, "subprocess", lambda m: Payload(subprocess.call, (["touch", str(m)],)))


@case
def ckpt_malicious_reduce_of_arbitrary_class(env, folder):
    def make(marker):
        trap = Trap.__new__(Trap)
        trap.marker = str(marker)
        return trap

    c = malicious(folder, "trap", make)
    c.fragments += ("Trap",)
    return c


@case
def ckpt_malicious_global_inside_real_module_tree(env, folder):
    # A real checkpoint with one global swapped for os.system: the whole file is refused.
    path = folder / "smuggled.pt"
    rewrite_pickle(
        env["model"], path, lambda d: d.replace(b"ctorch.nn.modules.activation\nSiLU\n", b"cos\nsystem\n", 1)
    )
    return Case(["inspect", path], (str(path), "os.system"))


@case
def ckpt_ultralytics_function_called_with_arguments(env, folder):
    # ultralytics' own names resolve to inert stand-ins; calling one with arguments (a download) is refused.
    from ultralytics.utils.downloads import attempt_download_asset

    c = malicious(folder, "download", lambda m: Payload(attempt_download_asset, (str(m),)))
    c.fragments += ("attempt_download_asset", "with arguments")
    return c


# --- safetensors files ---------------------------------------------------------------------------------------


def corrupt_copy(source: Path, folder: Path, name: str, mutate: Callable[[bytes], bytes]) -> Path:
    path = folder / name
    path.write_bytes(mutate(source.read_bytes()))
    return path


@case
def st_header_length_beyond_file(env, folder):
    path = corrupt_copy(env["weights"], folder, "w.safetensors", lambda b: (10**12).to_bytes(8, "little") + b[8:])
    return Case(["inspect", path], (str(path), "not a valid safetensors file"))


@case
def st_header_not_json(env, folder):
    path = folder / "w.safetensors"
    path.write_bytes((16).to_bytes(8, "little") + b"this is not json")
    return Case(["run", path, "-o", folder / "out.safetensors"], (str(path), "not a valid safetensors file"))


@case
def st_tensor_offsets_out_of_range(env, folder):
    header = json.dumps({"__metadata__": {"format": "yolo10port-dump/1"}, "input": {
        "dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}).encode()  # fmt: skip
    path = folder / "offsets.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 64)
    return Case(["diff", env["ref"], path], (str(path), "not a valid safetensors file"))


@case
def st_half_written_dump(env, folder):
    path = corrupt_copy(env["ref"], folder, "half.safetensors", lambda b: b[: len(b) // 2])
    return Case(["diff", env["ref"], path], (str(path), "not a valid safetensors file"))


@case
def st_no_metadata(env, folder):
    path = folder / "plain.safetensors"
    save_numpy({"input": np.ones((1, 3, 640, 640), np.float32)}, str(path))
    return Case(["diff", env["ref"], path], (str(path), "without a 'format' metadata entry"))


@case
def st_metadata_of_another_format(env, folder):
    path = folder / "other.safetensors"
    save_numpy({"w": np.ones(3, np.float32)}, str(path), metadata={"format": "pt"})
    return Case(["run", path, "-o", folder / "out.safetensors"], (str(path), "format is 'pt'"))


@case
def st_weights_given_as_dump(env, folder):
    return Case(["diff", env["ref"], env["weights"]], (str(env["weights"]), "weights export, not a dump"))


@case
def st_dump_given_as_weights(env, folder):
    out = folder / "out.safetensors"
    return Case(["run", env["ref"], "-o", out], (str(env["ref"]), "is a yolo10port dump"), output=out)


@case
def st_dump_given_to_export(env, folder):
    return export_to(folder, env["ref"])


# --- dumps and diff -----------------------------------------------------------------------------------------


@case
def diff_different_scales(env, folder):
    return Case(["diff", env["ref"], env["ref_s"]], (str(env["ref_s"]), "scale 's' differs", "--force"))


@case
def diff_different_inputs(env, folder):
    return Case(["diff", env["ref"], env["ref_random"]], (str(env["ref_random"]), "random:1", "--force"))


@case
def diff_key_on_one_side_only(env, folder):
    path = edited_dump(env, folder, lambda t: t.pop("model.7"))
    return Case(["diff", env["ref"], path, "--require", "all"], ("model.7", "not in candidate, required"), code=1)


@case
def diff_shape_mismatch(env, folder):
    path = edited_dump(env, folder, lambda t: t.update({"model.9": t["model.9"][:, :-1]}))
    return Case(["diff", env["ref"], path], ("model.9", "shape"), code=1)


@case
def diff_nan_in_candidate(env, folder):
    def plant(t):
        t["model.4"] = t["model.4"].copy()
        t["model.4"][0, 0, 0, 0] = np.nan

    return Case(["diff", env["ref"], edited_dump(env, folder, plant)], ("model.4", "NaN/Inf: 1 in candidate"), code=1)


@case
def diff_inf_in_candidate(env, folder):
    def plant(t):
        t["model.22"] = t["model.22"].copy()
        t["model.22"][..., -1] = np.inf

    return Case(["diff", env["ref"], edited_dump(env, folder, plant)], ("model.22", "NaN/Inf"), code=1)


# --- the command line ---------------------------------------------------------------------------------------


def option_case(command: str, options: list, fragments: tuple[str, ...]) -> Callable:
    """A malformed option given to `dump` (which would write an output) or `diff` (which reads two dumps)."""

    def make(env, folder):
        out = folder / "out.safetensors"
        if command == "dump":
            return Case(["dump", env["model"], "-o", out, *options], fragments, output=out)
        return Case(["diff", env["ref"], env["ref"], *options], fragments)

    return make


OPTION_CASES = {
    "cli-layer-open-range": ("diff", ["--layer", "0.."], ("--layer", "cannot parse")),
    "cli-layer-reversed-range": ("diff", ["--layer", "5..2"], ("--layer", "empty")),
    "cli-layer-not-a-number": ("diff", ["--layer", "x"], ("--layer", "cannot parse")),
    "cli-layer-out-of-range": ("diff", ["--layer", "24"], ("--layer", "out of range")),
    "cli-unknown-report-format": ("diff", ["--format", "pdf"], ("--format", "'pdf'")),
    "cli-imgsz-not-multiple-of-32": ("dump", ["--imgsz", "100"], ("--imgsz", "multiple of 32")),
    "cli-negative-batch": ("dump", ["--batch", "-1"], ("--batch", "not a positive batch size")),
    "cli-batch-not-a-number": ("dump", ["--batch", "two"], ("--batch", "valid integer", "--help")),
    "cli-unknown-input-spec": ("dump", ["--input", "nope"], ("nope", "neither ones")),
    "cli-random-seed-not-a-number": ("dump", ["--input", "random:abc"], ("--input", "random seed 'abc'")),
    "cli-depth-zero": ("dump", ["--depth", "0"], ("--depth", "positive integer")),
    "cli-dump-dtype-unknown": ("dump", ["--dtype", "float8"], ("--dtype", "float8")),
}
for _name, (_command, _options, _fragments) in OPTION_CASES.items():
    CASES[_name] = option_case(_command, _options, _fragments)


@case
def cli_unreadable_image(env, folder):
    image = folder / "photo.jpg"
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    out = folder / "out.safetensors"
    return Case(
        ["dump", env["model"], "-o", out, "--input", image], (str(image), "cannot be read as an image"), output=out
    )


@case
def cli_output_folder_missing(env, folder):
    out = folder / "no" / "such" / "out.safetensors"
    return Case(["dump", env["model"], "-o", out], (str(out), "does not exist"), output=out)


@case
def cli_output_folder_is_a_file(env, folder):
    (folder / "file").write_text("x")
    out = folder / "file" / "out.safetensors"
    return Case(["export", env["model"], "-o", out], (str(out), "is a file, not a folder"), output=out)


@case
def cli_output_folder_not_writable(env, folder):
    # /sys refuses file creation even to root, where a chmod'ed folder would not.
    out = Path("/sys/yolo10port-test.safetensors")
    return Case(["export", env["model"], "-o", out], (str(out), "cannot write the output"), output=out)


@case
def cli_output_same_as_input(env, folder):
    model = folder / "model.pt"
    model.write_bytes(env["model"].read_bytes())
    return Case(["export", model, "-o", model], (str(model), "same as an input"))


@case
def cli_disk_full_during_dump(env, folder):
    out = folder / "out.safetensors"
    return Case(
        ["dump", env["model"], "-o", out], (str(out), "cannot write the output"), limit_file_size=1 << 20, output=out
    )


@case
def cli_tolerance_file_missing(env, folder):
    return Case(
        ["diff", env["ref"], env["ref"], "--tolerances", folder / "tol.toml"], ("tol.toml", "no such tolerance file")
    )


@case
def cli_tolerance_file_not_toml(env, folder):
    toml = folder / "tol.toml"
    toml.write_text("[default\natol = ")
    return Case(["diff", env["ref"], env["ref"], "--tolerances", toml], (str(toml), "not valid TOML"))


@case
def cli_unknown_scale_for_fixture(env, folder):
    out = folder / "f.pt"
    return Case(["fixture", "--scale", "q", "-o", out], ("--scale", "'q'"), output=out)


@case
def cli_weights_of_another_scale_for_run(env, folder):
    out = folder / "out.safetensors"
    return Case(["run", env["weights"], "--scale", "s", "-o", out], (str(env["weights"]), "YOLOv10-s"), output=out)


@case
def cli_unknown_command(env, folder):
    return Case(["transmogrify", env["model"]], ("No such command",))


# --- weight forms (issue 14): what the new allowances allow calls nothing; new forms fail with the real reason ---
# (placed before "running the corpus": the parametrization below takes the cases registered by then)


def _numpy_multiarray():
    return np._core.multiarray if hasattr(np, "_core") else np.core.multiarray


@case
def ckpt_torch_device_with_a_payload_string(env, folder):
    # torch.device resolves to a function of ours that returns the device's name; a string that is no device name
    # is refused, and nothing is ever run with it.
    c = malicious(folder, "device", lambda m: Payload(torch.device, (f"cuda; touch {m}",)))
    c.fragments += ("torch.device", "not a device name")
    return c


@case
def ckpt_codecs_encode_building_a_str(env, folder):
    import codecs

    # _codecs.encode is allowed only as protocol 2 writes bytes, (str, 'latin1'): rot13 would build a str.
    c = malicious(folder, "rot13", lambda m: Payload(codecs.encode, (f"touch {m}", "rot13")))
    c.fragments += ("_codecs.encode", "only _codecs.encode(str, 'latin1')")
    return c


@case
def ckpt_codecs_encode_through_a_binary_codec(env, folder):
    import codecs

    c = malicious(folder, "zlib", lambda m: Payload(codecs.encode, (str(m).encode(), "zlib")))
    c.fragments += ("_codecs.encode", "only _codecs.encode(str, 'latin1')")
    return c


@case
def ckpt_codecs_decode(env, folder):
    import codecs

    c = malicious(folder, "decode", lambda m: Payload(codecs.decode, (str(m).encode(), "latin1")))
    c.fragments += ("_codecs.decode", "nearest allowed: _codecs.encode")
    return c


@case
def ckpt_numpy_scalar_of_a_non_numpy_class(env, folder):
    from collections import OrderedDict

    c = malicious(folder, "scalar", lambda m: Payload(_numpy_multiarray().scalar, (OrderedDict, b"\0" * 8)))
    c.fragments += ("scalar reconstructor", "only (numpy.dtype, bytes)")
    return c


@case
def ckpt_numpy_reconstruct_of_a_non_numpy_class(env, folder):
    from collections import OrderedDict

    c = malicious(folder, "reconstruct", lambda m: Payload(_numpy_multiarray()._reconstruct, (OrderedDict, (0,), b"b")))
    c.fragments += ("_reconstruct", "only numpy.ndarray")
    return c


@case
def ckpt_numpy_object_dtype(env, folder):
    c = malicious(folder, "objdtype", lambda m: Payload(np.dtype, ("O8", False, True)))
    c.fragments += ("numpy.dtype", "only numeric dtypes")
    return c


@case
def ckpt_numpy_random_state(env, folder):
    c = malicious(folder, "rng", lambda m: np.random.RandomState(0))
    c.fragments += ("numpy.random._pickle", "nearest allowed: numpy.")
    return c


@case
def ckpt_quantized_tensor(env, folder):
    path = folder / "quantized.pt"
    torch.save({"model": torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.quint8)}, path)
    return Case(["inspect", path], (str(path), "_rebuild_qtensor", "nearest allowed: torch._utils._rebuild_tensor_v2"))


@case
def sd_two_models_in_one_state_dict(env, folder):
    state = torch.load(env["model"], map_location="cpu", weights_only=False)["model"].state_dict()  # our fixture
    path = folder / "two.pt"
    torch.save({**{f"model.{k}": v for k, v in state.items()}, **{f"ema.{k}": v for k, v in state.items()}}, path)
    c = export_to(folder, path)
    c.fragments += ("keys start with 'ema.model.' and 'model.model.'",)
    return c


@case
def sd_yolov8_as_safetensors(env, folder):
    from safetensors.torch import save_file as save_torch
    from ultralytics.nn.tasks import DetectionModel

    path = folder / "yolov8n.safetensors"
    save_torch(DetectionModel("yolov8n.yaml", verbose=False).state_dict(), str(path))
    out = folder / "out.safetensors"
    return Case(["run", path, "-o", out], (str(path), "not a YOLOv10 model", "YOLOv8-style"), output=out)


@case
def hf_reference_without_a_cached_copy(env, folder):
    return Case(["inspect", "hf:yolo10port-test/no-such-model"], ("no-such-model", "no cached copy", "never downloads"))


@case
def hf_snapshot_without_weights(env, folder):
    snapshot = folder / "yolov10n"
    snapshot.mkdir()
    (snapshot / "config.json").write_text('{"model": "yolov10n.yaml"}')
    c = export_to(folder, snapshot)
    c.fragments += ("without model.safetensors",)
    return c


# --- running the corpus -------------------------------------------------------------------------------------


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under the folders with its sha256: inputs unchanged and nothing new, partial or not."""
    state = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@dataclass
class Outcome:
    spec: Case
    result: subprocess.CompletedProcess
    changed: list[str]  # files of the case's folder that appeared, vanished or changed


@pytest.fixture(scope="module")
def outcomes(env, tmp_path_factory) -> dict[str, Outcome]:
    """Build every case's files, then run the CLI on all of them, a few at a time (each is a fresh interpreter)."""
    specs = {}
    for name, make in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        specs[name] = (make(env, folder), folder)
    corpus_before = snapshot(env["weights"].parent)

    def run(name: str) -> Outcome:
        spec, folder = specs[name]
        before = snapshot(folder)
        result = run_cli(*spec.args, cwd=folder, limit_file_size=spec.limit_file_size)
        after = snapshot(folder)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return Outcome(spec, result, changed)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(specs, pool.map(run, specs)))
    assert snapshot(env["weights"].parent) == corpus_before, "a shared input file changed"
    record(results)
    return results


def record(results: dict[str, Outcome]) -> None:
    """Keep every case's one line in build/bad-input-messages.txt (for the README and the closing note)."""
    lines = []
    for name, outcome in results.items():
        result = outcome.result
        shown = result.stderr.strip() or next((s for s in result.stdout.splitlines() if "FAIL" in s), "")
        lines.append(f"{name} → exit {result.returncode}: {shown}")
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bad-input-messages.txt").write_text("\n".join(lines) + "\n")


def test_corpus_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, outcomes):
    spec, result, changed = outcomes[name].spec, outcomes[name].result, outcomes[name].changed
    if spec.code == 2:
        assert_input_error(result, *spec.fragments)
        assert "unexpected error" not in result.stderr, result.stderr
    else:
        assert result.returncode == spec.code, (result.returncode, result.stderr)
        assert "Traceback" not in result.stderr and not result.stderr.strip(), result.stderr
        for fragment in spec.fragments:
            assert fragment in result.stdout, (fragment, result.stdout)
    assert not changed, f"an input changed, or an output or partial file was left: {changed}"
    if spec.output is not None:
        assert not spec.output.exists()
    for path in spec.not_created:
        assert not path.exists(), f"the payload ran: {path} exists"


def test_weights_with_nan_export_with_a_warning_and_fail_check(env, tmp_path):
    ckpt = torch.load(env["model"], map_location="cpu", weights_only=False)  # our own fixture: trusted
    ckpt["model"].model[4].cv1.conv.weight.data[0, 0, 0, 0] = float("nan")
    nan_model = tmp_path / "nan.pt"
    torch.save(ckpt, nan_model)
    out = tmp_path / "nan.safetensors"
    exported = run_cli("export", nan_model, "-o", out)
    assert exported.returncode == 0, exported.stderr
    assert (
        exported.stderr.count("\n") == 1
        and "warning" in exported.stderr
        and "model.4.cv1.conv.weight" in (exported.stderr)
    )
    assert "model.4.cv1.conv.weight" in tensors_and_meta(out)[1]["nonfinite_tensors"]
    checked = run_cli("check", nan_model, "--workdir", tmp_path / "work")
    assert checked.returncode == 1, checked.stderr
    assert "NaN/Inf" in checked.stdout and "FAIL" in checked.stdout


def test_interrupting_dump_leaves_nothing(env, tmp_path):
    out = tmp_path / "all.safetensors"
    process = subprocess.Popen(
        [sys.executable, "-m", "yolo10port.cli", "dump", env["model"], "--depth", "all", "-o", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that runs the suite in the background ignores SIGINT, and children inherit that: Python then
        # never installs its Ctrl-C handler. Give the child the default, as a terminal user's process has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*partial")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)  # wait until the dump is really streaming
    assert process.poll() is None, "the dump finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert list(tmp_path.iterdir()) == []


def test_identical_runs_give_identical_bytes(env, tmp_path):
    for name in ("a", "b"):
        assert run_cli("export", env["model"], "-o", tmp_path / f"{name}.safetensors").returncode == 0
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert (tmp_path / "a.modules.txt").read_bytes() == (tmp_path / "b.modules.txt").read_bytes()


def test_force_compares_dumps_of_different_inputs(env):
    # The refusal above is about intent, not ability: with --force the numbers are compared (and differ).
    result = run_cli("diff", env["ref"], env["ref_random"], "--force", "--format", "json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["first_failure"] == "input"  # compared, and found different
