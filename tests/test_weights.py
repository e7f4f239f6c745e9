"""Safe reading and export: every scale's key set and bits preserved; every refusal proven."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
import torch
from safetensors import safe_open

from tests.conftest import assert_input_error, run_cli
from yolo10port.reference.network import build_network
from yolo10port.weights import read_weights
from yolo10port.weights.export import export_weights

SCALES = ["n", "s", "m", "b", "l", "x"]


def trusted_state_dict(path):
    # We made this file ourselves in the test, so ultralytics' own unpickling is safe here.
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return ckpt["model"].state_dict()


@pytest.mark.parametrize("scale", SCALES)
def test_export_keeps_every_key_and_bit(scale, make_fixture, tmp_path):
    path = make_fixture(scale)
    result = export_weights(path, tmp_path / "w.safetensors")
    expected = trusted_state_dict(path)
    assert set(build_network(scale, 80).state_dict()) == set(expected)
    with safe_open(str(result.out), "pt") as exported:
        assert set(exported.keys()) == set(expected)
        for key, tensor in expected.items():
            got = exported.get_tensor(key)
            assert got.dtype == tensor.dtype and torch.equal(got, tensor), key
        meta = exported.metadata()
    assert meta["format"] == "yolo10port-weights/1" and meta["scale"] == scale and meta["nc"] == "80"
    assert meta["fused"] == "false" and len(meta["source_sha256"]) == 64
    manifest = json.loads(result.manifest.read_text())
    assert manifest.keys() == expected.keys()
    assert "model.10.attn.qkv  Conv" in result.modules.read_text()


def test_fused_fixture_exports_with_one_to_one_head_only(make_fixture, tmp_path):
    path = make_fixture("s", fused=True)
    weights = read_weights(path)
    assert weights.fused and weights.storage_dtype == "float16"
    assert not any(k.startswith(("model.23.cv2.", "model.23.cv3.")) for k in weights.state_dict)
    assert "model.8.m.0.cv1.2.conv.bias" in weights.state_dict  # RepVGGDW folded into one conv
    result = export_weights(path, tmp_path / "fused.safetensors")
    assert read_weights(result.out).fused


def test_fixture_is_deterministic(make_fixture, tmp_path):
    from yolo10port.reference.fixture import build_fixture

    again = build_fixture("n", tmp_path / "again.pt")
    first, second = read_weights(make_fixture("n")).state_dict, read_weights(again).state_dict
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def rewrite_pickle(src, dst, transform):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, transform(data) if item.filename.endswith("data.pkl") else data)


def test_thu_mig_class_names_read_the_same(make_fixture, tmp_path):
    upstream = make_fixture("s")
    fork = tmp_path / "fork.pt"
    rewrite_pickle(upstream, fork, lambda d: d.replace(b"\nDetectionModel\n", b"\nYOLOv10DetectionModel\n"))
    a, b = read_weights(upstream), read_weights(fork)
    assert b.model_class == "ultralytics.nn.tasks.YOLOv10DetectionModel"
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


class Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker):
    import subprocess

    return {
        "os.system": (os.system, (f"touch {marker}",)),
        "builtins.eval": (eval, (f"open({str(marker)!r}, 'w')",)),
        "builtins.exec": (exec, (f"open({str(marker)!r}, 'w')",)),
        "subprocess.call": (subprocess.call, (["touch", str(marker)],)),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "builtins.exec", "subprocess.call"])
def test_malicious_pickle_is_refused_and_never_runs(name, tmp_path):
    marker = tmp_path / "pwned"
    func, args = payloads(marker)[name]
    evil = tmp_path / "evil.pt"
    torch.save({"model": Payload(func, args), "ema": None}, evil)
    result = run_cli("export", evil, "-o", tmp_path / "out.safetensors")
    assert_input_error(result, str(evil), "unsafe pickle")
    assert not marker.exists(), "the payload ran"
    assert not (tmp_path / "out.safetensors").exists()


def test_reduce_of_a_stand_in_class_with_arguments_is_refused(make_fixture, tmp_path):
    # An attacker may name an ultralytics "class" and call it; stand-ins refuse arguments.
    from yolo10port.weights.unpickler import RestrictedUnpickler, UnsafePickleError

    data = b"\x80\x02cultralytics.utils.downloads\nattempt_download\nX\x03\x00\x00\x00abc\x85R."
    with pytest.raises(UnsafePickleError):
        RestrictedUnpickler(io.BytesIO(data), lambda key: b"").load()


def test_yolov8_is_refused_saying_what_it_is(tmp_path):
    from ultralytics.nn.tasks import DetectionModel

    path = tmp_path / "yolov8n.pt"
    torch.save({"model": DetectionModel("yolov8n.yaml", verbose=False).half(), "ema": None}, path)
    assert_input_error(run_cli("export", path), "not a YOLOv10 model", "Detect", "yolov8n.yaml")


def bad_files(tmp_path, fixture):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(fixture.read_bytes()[:5000])
    not_zip = tmp_path / "notzip.pt"
    not_zip.write_bytes(b"hello, this is not a checkpoint")
    no_pickle = tmp_path / "nopickle.pt"
    with zipfile.ZipFile(no_pickle, "w") as z:
        z.writestr("archive/version", "3")
    legacy = tmp_path / "legacy.pt"
    torch.save({"model": None}, legacy, _use_new_zipfile_serialization=False)
    not_dict = tmp_path / "notdict.pt"
    torch.save([1, 2, 3], not_dict)
    no_model = tmp_path / "nomodel.pt"
    torch.save({"epoch": 3}, no_model)
    return {
        tmp_path / "missing.pt": "no such file",
        tmp_path: "directory",
        empty: "empty",
        truncated: "corrupt zip",
        not_zip: "not a torch zip checkpoint",
        no_pickle: "no data.pkl",
        legacy: "legacy",
        not_dict: "not a dict",
        no_model: "neither 'ema' nor 'model'",
    }


def test_every_bad_checkpoint_exits_2_with_one_line(make_fixture, tmp_path):
    for path, reason in bad_files(tmp_path, make_fixture("n")).items():
        out = tmp_path / "out.safetensors"
        assert_input_error(run_cli("export", path, "-o", out), reason)
        assert not out.exists()
        assert not list(tmp_path.glob("*.partial"))


def test_export_dtype_options(make_fixture, tmp_path):
    path = make_fixture("n")
    for dtype, torch_dtype in (("float32", torch.float32), ("float16", torch.float16)):
        out = export_weights(path, tmp_path / f"{dtype}.safetensors", dtype).out
        weights = read_weights(out)
        floats = {t.dtype for t in weights.state_dict.values() if t.is_floating_point()}
        assert floats == {torch_dtype}
        assert weights.scale == "n" and weights.nc == 80 and weights.names[0] == "class0"


def test_cli_export_and_inspect(make_fixture, tmp_path):
    path = make_fixture("n")
    out = tmp_path / "n.safetensors"
    result = run_cli("export", path, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.exists() and (tmp_path / "n.manifest.json").exists() and (tmp_path / "n.modules.txt").exists()
    for file in (path, out):
        shown = run_cli("inspect", file)
        assert shown.returncode == 0, shown.stderr
        assert "YOLOv10-n" in shown.stdout and "PSA" in shown.stdout and "1×256×20×20" in shown.stdout


def test_unsafe_pickle_inside_module_tree_is_refused(make_fixture, tmp_path):
    # A real checkpoint with one extra global smuggled in: the whole file is refused.
    evil = tmp_path / "evil2.pt"
    rewrite_pickle(
        make_fixture("n"), evil, lambda d: d.replace(b"ctorch.nn.modules.activation\nSiLU\n", b"cos\nsystem\n", 1)
    )
    assert_input_error(run_cli("inspect", evil), "os.system")
