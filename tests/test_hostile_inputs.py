"""Hostile inputs, round 2 (issue 21): resource bombs, markup and escape injection, unexpected errors.

Every case runs the real CLI in a subprocess over a file built here, and must end in exit 2 with one line naming
the file or option: no traceback, no "unexpected error", nothing written. The memory bombs run under an address-space
limit (RLIMIT_AS) that the bomb's allocation would break: they pass only if the bound refuses the file before
allocating. The hang runs under a timeout. `test_every_command_prints_input_text_literally` runs each command over
inputs named with rich markup and terminal escapes.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import subprocess
import sys
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy

from tests.conftest import assert_input_error
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.weights.export import export_weights

ADDRESS_SPACE = 5 << 30  # the interpreter with torch maps ~3.3 GB; a bomb's gigabytes cannot fit beside it
HANG_TIMEOUT = 600  # generous: on a saturated 2-core machine a torch import alone has taken over 100 s
ESCAPE = "\x1b]0;pwned\x07"  # an xterm title-setting sequence
SHOWN = "\\x1b]0;pwned\\x07"  # how it must be shown


@dataclass
class Case:
    args: list
    fragments: tuple[str, ...]
    memory_limit: bool = False  # run under ADDRESS_SPACE
    output: Path | None = None  # must not exist afterwards


CASES: dict[str, Callable] = {}


def case(func: Callable) -> Callable:
    CASES[func.__name__.replace("_", "-")] = func
    return func


def run(args, memory_limit: bool = False, timeout: int = HANG_TIMEOUT) -> subprocess.CompletedProcess:
    def limit() -> None:
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    try:
        return subprocess.run(
            [sys.executable, "-m", "yolo10port.cli", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
            env={**os.environ, "COLUMNS": "200"},
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", f"hung: no answer in {timeout} s")


@pytest.fixture(scope="module")
def env(make_fixture, tmp_path_factory):
    """Good files the hostile ones start from: the n fixture, its export, a small reference dump (160×160, no floor:
    the cases that need one write it)."""
    folder = tmp_path_factory.mktemp("hostile-corpus")
    model = make_fixture("n")
    return {
        "model": model,
        "weights": export_weights(model, folder / "n.safetensors").out,
        "ref": dump_reference(model, folder / "ref.safetensors", RunSpec(imgsz=160), floor=False),
    }


# --- building hostile files ----------------------------------------------------------------------------------


def trusted_checkpoint(env) -> dict:
    return torch.load(env["model"], map_location="cpu", weights_only=False)  # our own fixture: trusted


def state_dict(env) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trusted_checkpoint(env)["model"].state_dict().items()}


class Reduce:
    """Pickles as `func(*args)`."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class StorageRef:
    """Pickled as a torch persistent id: ('storage', FloatStorage, key, 'cpu', numel)."""

    def __init__(self, key: str, numel):
        self.key, self.numel = key, numel


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def hand_checkpoint(path: Path, obj=None, storages: dict[str, bytes] | None = None, pickled: bytes | None = None):
    """A torch zip checkpoint written by hand: `obj` pickled as torch pickles (or raw `pickled` bytes)."""
    if pickled is None:
        buffer = __import__("io").BytesIO()
        TorchPickler(buffer, protocol=2).dump(obj)
        pickled = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")
    return path


def stem_tensor(storage: StorageRef, size=(16, 3, 3, 3), stride=(27, 9, 3, 1)):
    return Reduce(torch._utils._rebuild_tensor_v2, (storage, 0, size, stride, False, OrderedDict()))


def inspect_case(path: Path, *fragments: str, memory_limit: bool = False) -> Case:
    return Case(["inspect", path], (str(path), *fragments), memory_limit=memory_limit)


def export_case(folder: Path, path: Path, *fragments: str, memory_limit: bool = False) -> Case:
    out = folder / "out.safetensors"
    return Case(["export", path, "-o", out], (str(path), *fragments), memory_limit=memory_limit, output=out)


def edited_dump(env, path: Path, edit_tensors=None, edit_meta=None) -> Path:
    with safe_open(str(env["ref"]), "np") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        meta = dict(handle.metadata())
    if edit_tensors:
        edit_tensors(tensors)
    if edit_meta:
        edit_meta(meta)
    save_numpy(tensors, str(path), metadata=meta)
    return path


def attach(checkpoint: dict, module: torch.nn.Module) -> dict:
    """Hang `module` inside the fixture's layer 5, where the module walk reaches it."""
    checkpoint["model"].model[5].extra = module
    return checkpoint


# --- memory bombs and hangs ----------------------------------------------------------------------------------


def _precompressed_bomb(block: bytes):
    """zipfile's compressor for a member of repeated zero blocks: each block deflated once, then repeated (a full
    flush makes every block's deflate bytes the same), so gigabytes are written in milliseconds."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()

    class Precompressed:
        calls = 0

        def compress(self, _data):
            self.calls += 1
            return first if self.calls == 1 else again

        def flush(self):
            return tail

    return Precompressed()


@case
def bomb_zip_member_inflating_to_3_gb(env, folder):
    # The stem's storage member replaced by 3 GiB of deflated zeros (3 MB on disk): it used to be read whole and
    # then copied. Its header says 3 GiB where the pickle declares 864 bytes: refused before decompressing.
    path = folder / "zipbomb.pt"
    block = bytes(1 << 24)
    with zipfile.ZipFile(env["model"]) as source, zipfile.ZipFile(path, "w") as archive:
        storages = [i for i in source.infolist() if "/data/" in i.filename]
        victim = max(storages, key=lambda i: i.file_size)
        for info in source.infolist():
            if info is not victim:
                archive.writestr(info, source.read(info.filename))
                continue
            bomb = zipfile.ZipInfo(info.filename)
            bomb.compress_type = zipfile.ZIP_DEFLATED
            compressor = _precompressed_bomb(block)
            with (
                mock.patch.object(zipfile, "_get_compressor", lambda *_a, c=compressor, **_k: c),
                mock.patch.object(zipfile, "crc32", lambda _data, crc=0: 0),
                archive.open(bomb, "w", force_zip64=True) as member,
            ):
                for _ in range(192):
                    member.write(block)
    assert path.stat().st_size < 10 << 20
    return inspect_case(path, "3,221,225,472 bytes", "declares", memory_limit=True)


@case
def bomb_stride_zero_view(env, folder):
    # One float viewed as 45000×45000 (stride 0): .contiguous() asked for 8 GB.
    sd = state_dict(env)
    sd["model.0.conv.weight"] = torch.ones(1).expand(45000, 45000)
    path = folder / "stride0.pt"
    torch.save(sd, path)
    return inspect_case(path, "2,025,000,000 elements", "storage of 1 elements", memory_limit=True)


@case
def bomb_one_storage_named_3000_times(env, folder):
    # One 4 MB parameter named 3000 times in one module: one clone per reference asked for 12 GB.
    checkpoint = trusted_checkpoint(env)
    shared = torch.nn.Parameter(torch.zeros(1 << 20))
    layer = checkpoint["model"].model[5]
    for i in range(3000):
        layer.register_parameter(f"copy{i}", shared)
    path = folder / "shared3000.pt"
    torch.save(checkpoint, path)
    assert path.stat().st_size < 12 << 20  # the fixture (6 MB) and one 4 MB tensor
    return inspect_case(path, "tensors, more than the 595 of an unfused YOLOv10-n", memory_limit=True)


def shared_levels(env, path: Path, levels: int) -> Path:
    """Each level's two children are one module: 2^levels paths through a 9 kB file."""
    module = torch.nn.Linear(1, 1)
    for _ in range(levels):
        parent = torch.nn.Module()
        parent.a, parent.b = module, module
        module = parent
    torch.save(attach(trusted_checkpoint(env), module), path)
    return path


@case
def hang_40_levels_of_shared_submodules(env, folder):
    # 2^40 paths: a hang for the old walk; the depth bound stops it first.
    return inspect_case(shared_levels(env, folder / "shared40.pt", 40), "module tree deeper than 32 levels")


@case
def hang_20_levels_of_shared_submodules(env, folder):
    # 2^20 paths within the depth bound: the bound on paths stops it.
    return inspect_case(shared_levels(env, folder / "shared20.pt", 20), "more than 5000 module paths")


@case
def ckpt_module_chain_3000_deep(env, folder):
    module = torch.nn.Identity()
    for _ in range(3000):
        parent = torch.nn.Module()
        parent.inner = module
        module = parent
    path = folder / "deep.pt"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # torch.save recurses once per level
    try:
        torch.save(attach(trusted_checkpoint(env), module), path)
    finally:
        sys.setrecursionlimit(limit)
    return inspect_case(path, "module tree deeper than 32 levels")


# --- checkpoints: the unexpected errors -------------------------------------------------------------------------


@case
def ckpt_persistent_id_numel_inf(env, folder):
    path = hand_checkpoint(
        folder / "inf.pt",
        {"model.0.conv.weight": stem_tensor(StorageRef("0", float("inf")))},
        {"0": bytes(4 * 432)},
    )
    return inspect_case(path, "malformed element count inf")


def _huge_length_pickle(opcode: bytes) -> bytes:
    return b"\x80\x04" + opcode + (2**64 - 1).to_bytes(8, "little") + b"x" * 16


@case
def ckpt_binunicode8_length_2_pow_64(env, folder):
    path = hand_checkpoint(folder / "unicode8.pt", pickled=_huge_length_pickle(pickle.BINUNICODE8))
    return inspect_case(path, "unreadable checkpoint", "BINUNICODE8")


@case
def ckpt_frame_length_2_pow_64(env, folder):
    path = hand_checkpoint(folder / "frame.pt", pickled=_huge_length_pickle(pickle.FRAME))
    return inspect_case(path, "unreadable checkpoint", "frame size")


@case
def ckpt_class_names_with_non_integer_keys(env, folder):
    checkpoint = trusted_checkpoint(env)
    checkpoint["model"].names = {"person": "person", "car": "car"}
    path = folder / "names.pt"
    torch.save(checkpoint, path)
    return export_case(folder, path, "class names keyed by 'person'")


@case
def ckpt_modules_stored_as_a_list(env, folder):
    checkpoint = trusted_checkpoint(env)
    layer = checkpoint["model"].model[5]
    object.__setattr__(layer, "_modules", list(layer._modules.values()))
    path = folder / "modlist.pt"
    torch.save(checkpoint, path)
    return inspect_case(path, "module model.5: _modules is list")


@case
def ckpt_zero_dimensional_stem(env, folder):
    sd = state_dict(env)
    sd["model.0.conv.weight"] = torch.tensor(1.0)
    path = folder / "stem0d.pt"
    torch.save(sd, path)
    return export_case(folder, path, "model.0.conv.weight has shape ()")


@case
def ckpt_build_on_an_allowed_function(env, folder):
    # GLOBAL torch._utils._rebuild_tensor_v2, then BUILD with a dict: it set attributes on the reader's own function.
    pickled = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x07\x00\x00\x00patchedK\x01sb."
    path = hand_checkpoint(folder / "build.pt", pickled=pickled)
    return inspect_case(path, "refused unsafe pickle", "sets the state of")


@case
def export_names_metadata_not_json(env, folder):
    with safe_open(str(env["weights"]), "np") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        meta = {**handle.metadata(), "names": "{not json"}
    path = folder / "names.safetensors"
    save_numpy(tensors, str(path), metadata=meta)
    return Case(["run", path, "-o", folder / "out.safetensors"], (str(path), "metadata 'names' is not JSON"))


def snapshot_with_config(env, folder: Path, config: bytes | str) -> Path:
    """A Hugging Face snapshot folder: weights without yolo10port metadata (names come from config.json)."""
    snapshot = folder / "yolov10n"
    snapshot.mkdir()
    with safe_open(str(env["weights"]), "np") as handle:
        save_numpy({f"model.{k}": handle.get_tensor(k) for k in handle.keys()}, str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
    return snapshot


@case
def snapshot_with_4_million_class_names(env, folder):
    # Written whole, it made an export the reader refused ("header too large"); its config is now bounded.
    names = '{"names": {' + ",".join(f'"{i}": "c"' for i in range(4_000_000)) + "}}"
    snapshot = snapshot_with_config(env, folder, names)
    return export_case(folder, snapshot, "config.json is larger than 1 MiB")


@case
def snapshot_with_20000_class_names(env, folder):
    snapshot = snapshot_with_config(env, folder, json.dumps({"names": [f"c{i}" for i in range(20_000)]}))
    return export_case(folder, snapshot, "20,000 class names; at most 10000")


@case
def snapshot_config_of_1_gb(env, folder):
    snapshot = snapshot_with_config(env, folder, b"{}")
    os.truncate(snapshot / "config.json", 1 << 30)  # sparse: costs nothing on disk
    return export_case(folder, snapshot, "config.json is larger than 1 MiB")


# --- ONNX --------------------------------------------------------------------------------------------------------


def tiny_onnx(path: Path, domain: str = "", initializer_data: bytes | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 32, 32])
    initializers = []
    if initializer_data is not None:
        weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1000], raw_data=initializer_data)
        initializers.append(weight)  # built by hand: onnx.helper would refuse the mismatch itself
        node = helper.make_node("Add", ["images", "w"], ["out"], name="add")
    else:
        node = helper.make_node("Relu", ["images"], ["out"], name="custom", domain=domain)
    graph = helper.make_graph([node], "g", [x], [y], initializers)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


@case
def onnx_custom_op_domain_under_run(env, folder):
    path = tiny_onnx(folder / "custom.onnx", domain="evil.ops")
    out = folder / "out.safetensors"
    return Case(["run", path, "-o", out], (str(path), "custom operator evil.ops.Relu"), output=out)


@case
def onnx_custom_op_domain_under_check(env, folder):
    path = tiny_onnx(folder / "custom.onnx", domain="evil.ops")
    return Case(
        ["check", env["model"], "--candidate", path, "--imgsz", "160", "--workdir", folder / "work"],
        (str(path), "custom operator evil.ops.Relu"),
    )


@case
def onnx_initializer_dims_disagree_with_data(env, folder):
    path = tiny_onnx(folder / "dims.onnx", initializer_data=np.zeros(3, np.float32).tobytes())
    return Case(["run", path, "-o", folder / "out.safetensors"], (str(path), "dims [1000] (1,000 elements)", "holds 3"))


# --- the command line --------------------------------------------------------------------------------------------


def dump_case(env, folder, options: list, fragments: tuple[str, ...]) -> Case:
    out = folder / "out.safetensors"
    return Case(["dump", env["model"], "-o", out, *options], fragments, output=out)


OPTION_CASES = {
    "cli-imgsz-99968": (["--imgsz", "99968"], ("--imgsz", "99968", "GB", "the bound is 8192")),
    "cli-imgsz-100000": (["--imgsz", "100000"], ("--imgsz", "100000", "GB")),
    "cli-batch-100000": (["--batch", "100000"], ("--batch", "100000", "bound")),
    "cli-batch-times-imgsz": (["--batch", "100", "--imgsz", "1280"], ("--batch", "GB", "batch × imgsz²")),
    "cli-random-seed-of-30-digits": (["--input", "random:" + "9" * 30], ("--input", "not an integer from 0")),
    "cli-random-seed-superscript": (["--input", "random:²"], ("--input", "'²'", "not an integer")),
}
for _name, (_options, _fragments) in OPTION_CASES.items():
    CASES[_name] = lambda env, folder, o=_options, f=_fragments: dump_case(env, folder, o, f)


@case
def cli_layer_of_5000_digits(env, folder):
    return Case(["diff", env["ref"], env["ref"], "--layer", "7" * 5000], ("--layer", "5000 digits", "out of range"))


@case
def cli_input_dump_of_100_by_100(env, folder):
    path = folder / "small.safetensors"
    save_numpy({"input": np.ones((1, 3, 100, 100), np.float32)}, str(path), metadata={"format": "yolo10port-dump/1"})
    return dump_case(env, folder, ["--input", path], (str(path), "100×100", "multiples of 32"))


@case
def cli_input_dump_with_nan(env, folder):
    def plant(tensors):
        tensors["input"] = tensors["input"].copy()
        tensors["input"][0, 0, 0, 0] = np.nan

    path = edited_dump(env, folder / "nan.safetensors", plant)
    return dump_case(env, folder, ["--input", path], (str(path), "NaN"))


@case
def cli_input_fifo(env, folder):
    fifo = folder / "photo.png"
    os.mkfifo(fifo)
    return dump_case(env, folder, ["--input", fifo], (str(fifo), "FIFO"))


@case
def cli_inspect_imgsz_32e9(env, folder):
    return Case(["inspect", env["model"], "--imgsz", str(32 * 10**9)], ("--imgsz", "32000000000", "bound"))


@case
def cli_path_longer_than_path_max(env, folder):
    path = "/".join(["d" * 250] * 20) + "/w.pt"
    return Case(["inspect", path], (path[:40], "longer than the system allows"))


@case
def cli_inspect_dump_whose_floors_are_not_numbers(env, folder):
    path = edited_dump(env, folder / "floors.safetensors", edit_meta=lambda m: m.update(noise_floor='{"model.0": "x"}'))
    return Case(["inspect", path], (str(path), "noise_floor", "not a number"))


@case
def cli_tolerances_dev_zero(env, folder):
    return Case(["diff", env["ref"], env["ref"], "--tolerances", "/dev/zero"], ("/dev/zero", "character device"))


@case
def cli_tolerances_too_large(env, folder):
    toml = folder / "tol.toml"
    toml.write_text("# padding\n" * 200_000)
    return Case(["diff", env["ref"], env["ref"], "--tolerances", toml], (str(toml), "larger than 1 MiB"))


@case
def cli_atol_nan(env, folder):
    return Case(["diff", env["ref"], env["ref"], "--atol", "nan"], ("--atol", "nan is not a finite number"))


@case
def cli_toml_k_nan(env, folder):
    toml = folder / "tol.toml"
    toml.write_text("[default]\nk = nan\n")
    return Case(["diff", env["ref"], env["ref"], "--tolerances", toml], (str(toml), "k is nan"))


def broken_reference(env, folder, name: str, edit_tensors=None, edit_meta=None) -> Case:
    path = edited_dump(env, folder / name, edit_tensors, edit_meta)
    return Case(["diff", path, env["ref"]], (str(path),))


@case
def ref_floor_as_a_string(env, folder):
    c = broken_reference(env, folder, "floor.safetensors", edit_meta=lambda m: m.update(noise_floor='{"model.3": "1"}'))
    c.fragments += ("row 'model.3' has '1', not a number",)
    return c


@case
def ref_order_42(env, folder):
    c = broken_reference(env, folder, "order.safetensors", edit_meta=lambda m: m.update(order="42"))
    c.fragments += ("metadata 'order' is a JSON int",)
    return c


@case
def ref_u32_tensor(env, folder):
    c = broken_reference(
        env, folder, "u32.safetensors", lambda t: t.update({"model.5": t["model.5"].view(np.uint32).copy()})
    )
    c.fragments += ("tensor 'model.5' has dtype U32",)
    return c


@case
def cli_corrupt_png(env, folder):
    image = folder / "photo.png"
    png = bytearray(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13) + b"\xde\xad\xbe\xef" + bytes(64))
    image.write_bytes(bytes(png))
    return dump_case(env, folder, ["--input", image], (str(image), "cannot be read as an image"))


@case
def cli_path_with_a_newline(env, folder):
    model = folder / "two\nlines.pt"
    model.write_text("not a checkpoint")
    return export_case(folder, model, "two\\nlines.pt", "not a torch zip checkpoint")


# --- running the corpus ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outcomes(env, tmp_path_factory) -> dict[str, tuple[Case, subprocess.CompletedProcess]]:
    specs = {}
    for name, make in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        specs[name] = make(env, folder)

    def one(name: str):
        spec = specs[name]
        return spec, run(spec.args, spec.memory_limit)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(specs, pool.map(one, specs)))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"\n{len(specs)} hostile cases: {cpu:.0f} s of CPU in the CLI subprocesses")  # pytest -s shows it
    return results


def test_corpus_is_large_enough():
    assert len(CASES) >= 35


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name, outcomes):
    spec, result = outcomes[name]
    assert_input_error(result, *(fragment.replace("\n", "\\n") for fragment in spec.fragments))
    assert "unexpected error" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert "\x1b" not in result.stderr
    if spec.output is not None:
        assert not spec.output.exists()


# --- markup and terminal escapes in every command ----------------------------------------------------------------


def hostile_dump(env, path: Path) -> Path:
    """The reference, renamed, with metadata and a key holding markup and a terminal escape."""

    def edit_tensors(tensors):
        tensors[f"model.9[/]{ESCAPE}"] = tensors["model.9"]

    def edit_meta(meta):
        meta["producer"] = f"port [/] [v2] {ESCAPE}"
        meta["note[/]"] = "[draft]"
        meta["module_types"] = json.dumps({**json.loads(meta["module_types"]), "model.9": "SPPF[/][v2]"})

    return edited_dump(env, path, edit_tensors, edit_meta)


def assert_shown_literally(result: subprocess.CompletedProcess, code: int, *texts: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == code, (result.returncode, output)
    assert "Traceback" not in output and "unexpected error" not in output, output
    assert "\x1b" not in output and "\x07" not in output, repr(output)  # COLUMNS set, not a terminal: no colour
    flat = output.replace("\n", "")
    for text in texts:
        assert text in flat, (text, output)


def test_every_command_prints_input_text_literally(env, tmp_path):
    bracket = tmp_path / "x["
    bracket.mkdir()
    model = bracket / "]y[v2].pt"
    model.write_bytes(env["model"].read_bytes())
    broken = tmp_path / f"[draft]{ESCAPE}.pt"
    broken.write_text("not a checkpoint")
    broken_shown = f"[draft]{SHOWN}.pt"
    dump = hostile_dump(env, bracket / "]ref[v2].safetensors")
    out = bracket / "]w[v2].safetensors"

    jobs = {
        # what succeeds: paths, titles, metadata, keys and types shown as written
        "export": (["export", model, "-o", out], 0, ("x[/]w[v2].safetensors", "x[/]w[v2].manifest.json")),
        "inspect-weights": (["inspect", model, "--imgsz", "160"], 0, ("]y[v2].pt: YOLOv10-n",)),
        "inspect-dump": (
            ["inspect", dump],
            0,
            (
                "x[/]ref[v2].safetensors",
                f"port [/] [v2] {SHOWN}",
                "SPPF[/][v2]",
                f"model.9[/]{SHOWN}",
                "note[/]: [draft]",
            ),
        ),  # fmt: skip
        "diff": (["diff", env["ref"], dump], 0, ("x[/]ref[v2].safetensors", f"model.9[/]{SHOWN}")),
        # what fails: the one line names the file as written
        "dump": (["dump", broken, "-o", tmp_path / "d.safetensors"], 2, (broken_shown,)),
        "run": (["run", broken, "-o", tmp_path / "r.safetensors"], 2, (broken_shown,)),
        "golden": (["golden", broken, "-o", tmp_path / "g"], 2, (broken_shown,)),
        "check": (["check", broken], 2, (broken_shown,)),
        "onnx": (["onnx", broken, "-o", tmp_path / "o.onnx"], 2, (broken_shown,)),
        "detect": (["detect", broken, tmp_path / "[v2].png"], 2, ("[v2].png: no such file",)),  # inputs checked first
        "fixture": (["fixture", "--scale", "[/]", "-o", tmp_path / "f.pt"], 2, ("'[/]'",)),
        "diff-missing": (["diff", dump, tmp_path / f"nope[/]{ESCAPE}.safetensors"], 2, (f"nope[/]{SHOWN}",)),
        "usage": (["diff", dump, dump, "--format", "[/]pdf"], 2, ("'[/]pdf'",)),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(jobs, pool.map(lambda job: run(job[0], timeout=300), jobs.values())))
    for name, (_args, code, texts) in jobs.items():
        result = results[name]
        assert_shown_literally(result, code, *texts)
        if code == 2:
            assert_input_error(result)
