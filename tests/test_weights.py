"""Safe reading and export: every scale's key set and bits preserved; every refusal proven."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from tests.conftest import rewrite_pickle, run_cli, scale_params
from yolo10port.reference.network import build_network
from yolo10port.weights import read_weights
from yolo10port.weights.export import export_weights


def trusted_state_dict(path):
    # We made this file ourselves in the test, so ultralytics' own unpickling is safe here.
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return ckpt["model"].state_dict()


@pytest.mark.parametrize("scale", scale_params())  # b, l, x: extended
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


def test_fixture_is_deterministic(tmp_path):
    """Same arguments, two runs of the command (fresh interpreters, as users run it) → identical tensors."""
    paths = [tmp_path / "first.pt", tmp_path / "second.pt"]
    for path in paths:
        result = run_cli("fixture", "--scale", "n", "-o", path)
        assert result.returncode == 0, result.stderr
    first, second = (read_weights(path).state_dict for path in paths)
    assert first.keys() == second.keys()
    differing = {
        k: float((first[k].double() - second[k].double()).abs().max())
        for k in first
        if not torch.equal(first[k], second[k])
    }
    assert not differing, f"{len(differing)} of {len(first)} tensors differ, e.g. {list(differing.items())[:5]}"


def test_thu_mig_class_names_read_the_same(make_fixture, tmp_path):
    upstream = make_fixture("s")
    fork = tmp_path / "fork.pt"
    rewrite_pickle(upstream, fork, lambda d: d.replace(b"\nDetectionModel\n", b"\nYOLOv10DetectionModel\n"))
    a, b = read_weights(upstream), read_weights(fork)
    assert b.model_class == "ultralytics.nn.tasks.YOLOv10DetectionModel"
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


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


def test_a_checkpoint_refused_before_its_first_tensor_costs_no_torch_import(tmp_path):
    """Most refusals (a text file, a malicious or malformed pickle) come before any tensor is read: the reader
    imports torch (3–4 s) only at the first storage, and `inspect`/`export` read the file before their own torch
    imports. A structural check, not a timing: torch must not be in sys.modules after the refusal."""
    import os
    import pickle
    import subprocess
    import sys
    import zipfile

    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    malicious = tmp_path / "system.pt"
    with zipfile.ZipFile(malicious, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"model": Payload()}, protocol=2))
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    probe = (
        "import sys\n"
        "from yolo10port.errors import InputError\n"
        "from yolo10port.workflows.inspect import inspect_file\n"
        "from yolo10port.weights.export import export_weights\n"
        "for path, call in ((sys.argv[1], inspect_file), (sys.argv[2], export_weights)):\n"
        "    try:\n"
        "        call(path)\n"
        "    except InputError as error:\n"
        "        print(error)\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(malicious), str(text)], capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.splitlines()
    assert "refused unsafe pickle" in lines[0] and "system" in lines[0], result
    assert "not a torch zip checkpoint" in lines[1], result
    assert lines[-1] == "no torch", result
