"""Weights in every form people have them, each built faithfully from a fixture; and `inspect` against the paper.

Forms: a Hugging Face snapshot as the authors' hub repos hold it (folder, file, hf:OWNER/NAME from a cache), a
checkpoint trained with the THU-MIG fork (its loss object attached, numpy metrics), unstripped last.pt files with
optimizer state, and bare state dicts under the usual wrapper prefixes. Each must read to exactly the fixture's
own tensors, load in the clean model, and pass `check`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file, save_model
from torch import nn

from tests.conftest import assert_input_error, run_cli, scale_params
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.model import LoadError, YOLOv10, load_state_dict
from yolo10port.weights.export import export_weights
from yolo10port.weights.hf import default_output
from yolo10port.weights.reader import read_weights
from yolo10port.workflows.check import run_check
from yolo10port.workflows.inspect import inspect_file

# The paper's Table 1 (arXiv 2405.14458): parameters (M) and FLOPs (G) at 640.
PAPER = {
    "n": (2.3, 6.7),
    "s": (7.2, 21.6),
    "m": (15.4, 59.1),
    "b": (19.1, 92.0),
    "l": (24.4, 120.3),
    "x": (29.5, 160.4),
}
REPO, COMMIT = "jameslahm/yolov10n", "0123456789abcdef0123456789abcdef01234567"
FORK_VERSION = "8.1.34"  # THU-MIG/yolov10's ultralytics/__init__.py


def trusted(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)  # our own fixture: safe to unpickle fully


def tensors_of(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), "pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


def tree_state(folder: Path) -> dict[str, str]:
    """Every path under a folder (links included, not followed) with the sha256 of what it holds."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


# --- building the forms ----------------------------------------------------------------------------------------


class HubWrapper(nn.Module):
    """What the authors push: `YOLOv10(Model, PyTorchModelHubMixin)`, an nn.Module whose `.model` is the
    DetectionModel. The mixin's `_save_pretrained` is `safetensors.torch.save_model(self, "model.safetensors")`."""

    def __init__(self, detection_model: nn.Module):
        super().__init__()
        self.model = detection_model


def write_hf_snapshot(fixture: Path, folder: Path, names: bool = True) -> Path:
    """A snapshot folder as `push_to_hub` writes it: model.safetensors (fp32, no metadata) and config.json
    (`json.dumps(config, sort_keys=True, indent=2)`, with names and task, or only `model` as older revisions)."""
    model = trusted(fixture)["model"].float()
    folder.mkdir(parents=True, exist_ok=True)
    save_model(HubWrapper(model), str(folder / "model.safetensors"))
    config = {"model": model.yaml["yaml_file"], "names": model.names, "task": "detect"} if names else {}
    config.setdefault("model", model.yaml["yaml_file"])
    (folder / "config.json").write_text(json.dumps(config, sort_keys=True, indent=2))
    return folder


def cache_snapshot(hub: Path, repo_id: str, snapshot: Path, commit: str) -> Path:
    """Lay `snapshot` out in a Hugging Face cache: blobs named by sha256, snapshot files linked to them, refs/main."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "snapshots" / commit).mkdir(parents=True)
    for file in snapshot.iterdir():
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (repo / "snapshots" / commit / file.name).symlink_to(Path("../..") / "blobs" / blob.name)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


# THU-MIG/yolov10's training-time objects (ultralytics 8.1.34 as forked), attribute for attribute: its validator
# calls model.loss(), which attaches `criterion = v10DetectLoss(model)` to the EMA model, and the fork's trainer
# and strip_optimizer save the model with it. They are pickled under the fork's module paths.


class ForkBboxLoss(nn.Module):  # ultralytics.utils.loss.BboxLoss
    def __init__(self, reg_max, use_dfl=False):
        super().__init__()
        self.reg_max = reg_max
        self.use_dfl = use_dfl


class ForkTaskAlignedAssigner(nn.Module):  # ultralytics.utils.tal.TaskAlignedAssigner
    def __init__(self, topk=13, num_classes=80, alpha=1.0, beta=6.0, eps=1e-9):
        super().__init__()
        self.topk = topk
        self.num_classes = num_classes
        self.bg_idx = num_classes
        self.alpha = alpha
        self.beta = beta
        self.eps = eps


class ForkV8DetectionLoss:  # ultralytics.utils.loss.v8DetectionLoss
    def __init__(self, model, tal_topk=10, device=None):
        device = device or next(model.parameters()).device
        h = model.args
        m = model.model[-1]
        self.bce = nn.BCEWithLogitsLoss(reduction="none")
        self.hyp = h
        self.stride = m.stride
        self.nc = m.nc
        self.no = m.no
        self.reg_max = m.reg_max
        self.device = device
        self.use_dfl = m.reg_max > 1
        self.assigner = ForkTaskAlignedAssigner(topk=tal_topk, num_classes=self.nc, alpha=0.5, beta=6.0)
        self.bbox_loss = ForkBboxLoss(m.reg_max - 1, use_dfl=self.use_dfl)
        self.proj = torch.arange(m.reg_max, dtype=torch.float)


class ForkV10DetectLoss:  # ultralytics.utils.loss.v10DetectLoss
    def __init__(self, model, device=None):
        self.one2many = ForkV8DetectionLoss(model, tal_topk=10, device=device)
        self.one2one = ForkV8DetectionLoss(model, tal_topk=1, device=device)


@contextlib.contextmanager
def fork_names():
    """Pickle the classes above (and the fork's model class) under the names the fork gives them."""
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils.loss as loss
    import ultralytics.utils.tal as tal

    class YOLOv10DetectionModel(tasks.DetectionModel):
        pass

    placed = [
        (tasks, "YOLOv10DetectionModel", YOLOv10DetectionModel),
        (loss, "v10DetectLoss", ForkV10DetectLoss),
        (loss, "v8DetectionLoss", ForkV8DetectionLoss),
        (loss, "BboxLoss", ForkBboxLoss),
        (tal, "TaskAlignedAssigner", ForkTaskAlignedAssigner),
    ]
    with pytest.MonkeyPatch.context() as patch:
        for module, name, cls in placed:
            # The test's own classes take the fork's names for good; only the modules' attributes are restored.
            cls.__module__, cls.__qualname__, cls.__name__ = module.__name__, name, name
            patch.setattr(module, name, cls, raising=False)
        yield YOLOv10DetectionModel


def training_model(fixture: Path, model_class, perturb: float = 0.0):
    """The fixture's network as a trainer holds it: fork model class, args namespace, loss attached on the GPU."""
    from ultralytics.cfg import DEFAULT_CFG_DICT
    from ultralytics.utils import IterableSimpleNamespace

    model = trusted(fixture)["model"].float()
    model.__class__ = model_class
    if perturb:
        with torch.no_grad():
            for tensor in model.parameters():
                tensor.add_(perturb)
    model.args = IterableSimpleNamespace(**{**DEFAULT_CFG_DICT, "model": "yolov10n.yaml", "device": "0"})
    model.criterion = ForkV10DetectLoss(model, device=torch.device("cuda", 0))
    return model


def numpy_metrics() -> dict:
    """What the fork's trainer stores as train_metrics: the validator's mean results are numpy float64s."""
    return {
        "metrics/precision(B)": np.float64(0.61803),
        "metrics/recall(B)": np.float64(0.5432),
        "metrics/mAP50(B)": np.float64(0.6021),
        "metrics/mAP50-95(B)": np.float64(0.4317),
        "val/box_loss": 1.1825,
        "val/cls_loss": 0.9914,
        "val/dfl_loss": 1.0461,
        "fitness": np.float64(0.44873),
    }


def sgd_state(model: nn.Module) -> dict:
    """`torch.optim.SGD(...).state_dict()` after some steps, as trainers save it: a momentum buffer per parameter.
    Written out rather than made by torch.optim, whose first use imports torch._dynamo (3 s)."""
    parameters = list(model.parameters())
    group = {"lr": 0.01, "momentum": 0.937, "dampening": 0, "weight_decay": 0.0005, "nesterov": True}
    group |= {"maximize": False, "foreach": None, "differentiable": False, "fused": None}
    return {
        "state": {
            i: {"momentum_buffer": torch.full_like(p, 1e-3, dtype=torch.float32)} for i, p in enumerate(parameters)
        },
        "param_groups": [{**group, "params": list(range(len(parameters)))}],
    }


def write_fork_best(fixture: Path, path: Path) -> Path:
    """The fork's released best.pt: its strip_optimizer keeps `criterion` (ultralytics 8.4 clears it), the
    numpy train_metrics, and the EMA as `model`, fp16."""
    with fork_names() as model_class:
        model = training_model(fixture, model_class).half()
        model.args = dict(model.args)  # strip_optimizer: namespace → dict (the criterion keeps the namespace)
        ckpt = {
            "epoch": -1,
            "best_fitness": None,
            "model": model,
            "ema": None,
            "updates": None,
            "optimizer": None,
            "train_args": {"model": "yolov10n.yaml", "data": "coco.yaml", "epochs": 500, "imgsz": 640},
            "train_metrics": numpy_metrics(),
            "train_results": {"epoch": [1, 2], "train/box_loss": [1.9, 1.7], "metrics/mAP50(B)": [0.3, 0.4]},
            "date": "2024-05-26T10:11:12.000000",
            "version": FORK_VERSION,
            "license": "AGPL-3.0 (https://ultralytics.com/license)",
            "docs": "https://docs.ultralytics.com",
        }
        torch.save(ckpt, path)  # pickle protocol 2, as every torch.save
    return path


def write_fork_last(fixture: Path, path: Path) -> Path:
    """The fork trainer's last.pt: training model and EMA (both with criterion), optimizer state, numpy metrics.
    The training weights differ from the EMA's, so reading `model` instead of `ema` would show."""
    with fork_names() as model_class:
        ema = training_model(fixture, model_class)
        model = training_model(fixture, model_class, perturb=0.01)
        ckpt = {
            "epoch": 9,
            "best_fitness": np.float64(0.44873),
            "model": copy.deepcopy(model).half(),
            "ema": copy.deepcopy(ema).half(),
            "updates": 1234,
            "optimizer": sgd_state(model),
            "train_args": {**dict(model.args), "imgsz": 640},
            "train_metrics": numpy_metrics(),
            "train_results": {"epoch": [1, 2], "train/box_loss": [1.9, 1.7]},
            "date": "2024-05-26T10:11:12.000000",
            "version": FORK_VERSION,
            "license": "AGPL-3.0 (https://ultralytics.com/license)",
            "docs": "https://docs.ultralytics.com",
        }
        torch.save(ckpt, path)
    return path


def write_ultralytics_last(fixture: Path, path: Path) -> Path:
    """ultralytics 8.4's last.pt, as BaseTrainer.save_model writes it: model None, the EMA (criterion cleared),
    fp16 optimizer state, AMP scaler, numpy metrics."""
    from ultralytics.utils.torch_utils import convert_optimizer_state_dict_to_fp16

    ema = trusted(fixture)["model"].float()
    ema.criterion = None
    ckpt = {
        "epoch": 9,
        "best_fitness": np.float64(0.44873),
        "stopper": {"best_fitness": np.float64(0.44873), "best_epoch": 9},
        "model": None,
        "ema": copy.deepcopy(ema).half(),
        "updates": 1234,
        "modelopt": None,
        "optimizer": convert_optimizer_state_dict_to_fp16(sgd_state(ema)),
        "scaler": torch.amp.GradScaler("cpu").state_dict(),
        "train_args": {"model": "yolov10n.yaml", "imgsz": 640, "epochs": 10},
        "train_metrics": numpy_metrics(),
        "train_results": {"epoch": [1, 2], "train/box_loss": [1.9, 1.7]},
        "date": "2025-01-01T00:00:00+00:00",
        "version": "8.4.190",
        "git": {"root": None, "branch": None, "commit": None, "message": None, "origin": None},
        "license": "AGPL-3.0 (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
    }
    torch.save(ckpt, path)
    return path


def write_state_dict(fixture: Path, path: Path, wrap: str) -> Path:
    """`torch.save(x.state_dict())` for the wrappers that put the DetectionModel's tensors under a prefix."""
    model = trusted(fixture)["model"]
    if wrap == "plain":
        torch.save(model.state_dict(), path)  # model.0.conv.weight …
    elif wrap == "sequential":
        torch.save(model.model.state_dict(), path)  # 0.conv.weight …
    elif wrap == "yolo":
        from ultralytics import YOLO

        torch.save(YOLO(fixture).state_dict(), path)  # ultralytics' own wrapper: model.model.0.conv.weight …
    elif wrap == "dataparallel":
        torch.save(nn.DataParallel(model).state_dict(), path)  # module.model.0.conv.weight …
    elif wrap == "compiled":  # torch.compile(model).state_dict(), without importing torch._dynamo (3 s)
        torch.save({f"_orig_mod.{key}": tensor for key, tensor in model.state_dict().items()}, path)
    elif wrap == "lightning":
        holder = nn.Module()
        holder.detector = model
        torch.save({"state_dict": holder.state_dict(), "epoch": 3, "global_step": 300}, path)  # detector.model.…
    return path


@pytest.fixture(scope="module")
def forms(make_fixture, tmp_path_factory) -> dict[str, Path]:
    fixture = make_fixture("n")
    folder = tmp_path_factory.mktemp("forms")
    hub = folder / "hub"
    snapshot = write_hf_snapshot(fixture, folder / "yolov10n")
    cached = cache_snapshot(hub, REPO, snapshot, COMMIT)
    built = {
        "fixture": fixture,
        "hf_folder": snapshot,
        "hf_file": snapshot / "model.safetensors",
        "hf_cached_folder": cached,
        "fork_best": write_fork_best(fixture, folder / "fork-best.pt"),
        "fork_last": write_fork_last(fixture, folder / "fork-last.pt"),
        "ultralytics_last": write_ultralytics_last(fixture, folder / "last.pt"),
    }
    for wrap in ("plain", "sequential", "yolo", "dataparallel", "compiled", "lightning"):
        built[f"state_dict_{wrap}"] = write_state_dict(fixture, folder / f"sd-{wrap}.pt", wrap)
    built["hub"] = hub
    return built


@pytest.fixture
def hf_cache(forms, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(forms["hub"]))
    return forms["hub"]


@pytest.fixture(scope="module")
def fixture_report(forms):
    """What the clean model consumes and ignores when it loads the fixture itself."""
    return YOLOv10.from_file(forms["fixture"]).load_report


@pytest.fixture(scope="module")
def fixture_export(forms, tmp_path_factory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("fixture-export") / "n.safetensors"
    return tensors_of(export_weights(forms["fixture"], out).out)


# --- every form reads, exports, loads and checks like the fixture ----------------------------------------------

FORMS = [
    "hf_folder",
    "hf_file",
    "hf_cached_folder",
    "hf:jameslahm/yolov10n",
    "fork_best",
    "fork_last",
    "ultralytics_last",
    "state_dict_plain",
    "state_dict_sequential",
    "state_dict_yolo",
    "state_dict_dataparallel",
    "state_dict_compiled",
    "state_dict_lightning",
]


def source(forms: dict, name: str) -> str | Path:
    return name if name.startswith("hf:") else forms[name]


@pytest.mark.parametrize("name", FORMS)
def test_form_exports_the_fixture_tensors_and_loads(name, forms, hf_cache, fixture_export, fixture_report, tmp_path):
    exported = tensors_of(export_weights(read_weights(source(forms, name)), tmp_path / "w.safetensors").out)
    assert sorted(exported) == sorted(fixture_export)  # safetensors lists keys sorted, whatever the writer's order
    for key, expected in fixture_export.items():
        got = exported[key]
        # The hub and ultralytics' YOLO wrapper hold float32: the fixture's float16 values, widened exactly.
        if name.startswith("hf") or name == "state_dict_yolo":
            assert got.dtype == (torch.float32 if expected.is_floating_point() else expected.dtype), key
            assert torch.equal(got, expected.to(got.dtype)), key
        else:
            assert got.dtype == expected.dtype and torch.equal(got, expected), key
    report = YOLOv10.from_file(source(forms, name)).load_report
    assert sorted(report.consumed) == sorted(fixture_report.consumed)
    assert sorted(report.ignored) == sorted(fixture_report.ignored)


@pytest.mark.parametrize("name", ["hf:jameslahm/yolov10n", "fork_best", "ultralytics_last", "state_dict_plain"])
def test_form_passes_check(name, forms, hf_cache):
    cache = tree_state(hf_cache)
    # random:0 at 320: every layer's numbers exercised (not the flat all-ones image), at a quarter of 640's cost.
    assert run_check(source(forms, name), spec=RunSpec(input="random:0", imgsz=320)).report.passed
    assert tree_state(hf_cache) == cache  # checking a cached snapshot writes nothing into the cache


def test_what_each_form_says_about_itself(forms, hf_cache):
    hf = read_weights(f"hf:{REPO}")
    assert hf.form == f"Hugging Face snapshot {REPO}@{COMMIT[:12]}"
    assert hf.path == forms["hub"] / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT / "model.safetensors"
    assert hf.names[0] == "class0" and len(hf.names) == 80 and list(hf.names) == list(range(80))
    assert (hf.scale, hf.nc, hf.fused, hf.storage_dtype, hf.key_prefix) == ("n", 80, False, "float32", "model.model.")
    assert hf.saved_by == "unknown"
    fork = read_weights(forms["fork_best"])
    assert fork.model_class == "ultralytics.nn.tasks.YOLOv10DetectionModel"
    assert fork.saved_by == f"ultralytics {FORK_VERSION}" and fork.train_imgsz == 640
    last = read_weights(forms["fork_last"])
    assert last.form.startswith("ultralytics training checkpoint ('ema' read")
    plain = read_weights(forms["state_dict_plain"])
    assert (plain.form, plain.key_prefix, plain.names, plain.saved_by) == ("state dict", None, {}, "unknown")
    assert read_weights(forms["state_dict_sequential"]).key_prefix == ""
    assert read_weights(forms["state_dict_dataparallel"]).key_prefix == "module.model."
    assert read_weights(forms["state_dict_lightning"]).form == "state dict under 'state_dict'"


def test_hf_snapshot_written_as_the_mixin_writes_it(forms):
    """The file the tests read is the file the hub holds: no metadata, wrapper keys, fp32, both heads, buffers."""
    path = forms["hf_file"]
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata() is None
        keys = list(handle.keys())
        assert {handle.get_tensor(k).dtype for k in keys if "num_batches" not in k} == {torch.float32}
    assert all(key.startswith("model.model.") for key in keys)
    assert "model.model.23.cv2.0.0.conv.weight" in keys and "model.model.23.one2one_cv2.0.0.conv.weight" in keys
    assert "model.model.0.bn.num_batches_tracked" in keys and "model.model.0.bn.running_var" in keys
    config = json.loads((forms["hf_folder"] / "config.json").read_text())
    assert config["model"] == "yolov10n.yaml" and config["task"] == "detect" and config["names"]["0"] == "class0"


def test_revisions_and_older_configs(forms, hf_cache, tmp_path):
    by_commit = read_weights(f"hf:{REPO}@{COMMIT}")
    by_prefix = read_weights(f"hf:{REPO}@{COMMIT[:8]}")
    by_branch = read_weights(f"hf:{REPO}@main")
    assert by_commit.path == by_prefix.path == by_branch.path
    old = write_hf_snapshot(forms["fixture"], tmp_path / "old", names=False)  # {"model": "yolov10n.yaml"} only
    assert json.loads((old / "config.json").read_text()) == {"model": "yolov10n.yaml"}
    weights = read_weights(old)
    assert weights.names == {} and weights.scale == "n" and weights.nc == 80
    assert inspect_file(old).to_json()["names"] == "unknown"


def test_hf_reference_with_no_cached_copy_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(InputError) as error:
        read_weights("hf:jameslahm/yolov10x")
    reason = error.value.reason
    assert str(tmp_path / "empty-cache" / "models--jameslahm--yolov10x") in reason and "never downloads" in reason
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    with pytest.raises(InputError, match=str(tmp_path / "home" / "hub")):
        read_weights("hf:jameslahm/yolov10x")
    with pytest.raises(InputError, match="expected hf:OWNER/NAME"):
        read_weights("hf:../../etc")
    result = run_cli("inspect", "hf:jameslahm/yolov10x")
    assert_input_error(result, "hf:jameslahm/yolov10x", "no cached copy", str(tmp_path / "home" / "hub"))


def test_reading_a_cached_snapshot_writes_nothing_there(forms, hf_cache, tmp_path):
    before = tree_state(hf_cache)
    assert run_cli("inspect", f"hf:{REPO}").returncode == 0
    inspect_file(forms["hf_cached_folder"])
    read_weights(forms["hf_cached_folder"] / "model.safetensors")
    assert tree_state(hf_cache) == before


def test_default_outputs_never_land_in_a_snapshot(forms, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_output(f"hf:{REPO}@main", ".safetensors") == Path("yolov10n.safetensors")
    assert default_output(forms["hf_cached_folder"], ".reference.safetensors") == Path("yolov10n.reference.safetensors")
    cached_file = forms["hf_cached_folder"] / "model.safetensors"
    assert default_output(cached_file, ".safetensors") == Path("yolov10n.safetensors")
    folder = forms["hf_folder"]  # a plain clone of the hub repo: beside it, named after it
    assert default_output(folder, ".safetensors") == folder.parent / "yolov10n.safetensors"
    assert (
        default_output(folder / "model.safetensors", ".clean.safetensors")
        == folder.parent / "yolov10n.clean.safetensors"
    )
    assert default_output(forms["fork_best"], ".safetensors") == forms["fork_best"].with_suffix(".safetensors")


# --- errors that name the real problem ---------------------------------------------------------------------------


def test_prefix_problems_are_named_as_such(forms, tmp_path):
    state = trusted(forms["fixture"])["model"].state_dict()
    two = tmp_path / "two.pt"
    torch.save(
        {**{f"model.model.{k[6:]}": v for k, v in state.items()}, **{f"ema.{k}": v for k, v in state.items()}}, two
    )
    with pytest.raises(InputError, match=r"keys start with 'ema\.model\.' and 'model\.model\.'"):
        read_weights(two)
    stray = tmp_path / "stray.safetensors"
    save_file({**{f"model.{k}": v.float() for k, v in state.items()}, "extra.scale": torch.ones(1)}, str(stray))
    with pytest.raises(
        InputError, match=r"keys start with 'model\.model\.': 1 of 596 keys are outside .*'extra\.scale'"
    ):
        read_weights(stray)
    # The case that used to read "tensor shapes match none of the YOLOv10 scales": an export whose keys carry the
    # hub's prefix (tagged by hand). The prefix is removed and said.
    tagged = tmp_path / "tagged.safetensors"
    save_file({f"model.{k}": v for k, v in state.items()}, str(tagged), metadata={"format": "yolo10port-weights/1"})
    assert read_weights(tagged).key_prefix == "model.model."
    # The Python API on raw tensors: the loader names the prefix instead of listing 595 unexpected keys.
    with pytest.raises(LoadError, match=r"keys start with 'model\.model\.'"):
        load_state_dict(YOLOv10("n"), tensors_of(forms["hf_file"]))


def test_other_state_dicts_are_refused_with_the_reason(tmp_path):
    from ultralytics.nn.tasks import DetectionModel

    v8 = tmp_path / "yolov8n-sd.pt"
    torch.save(DetectionModel("yolov8n.yaml", verbose=False).state_dict(), v8)
    with pytest.raises(InputError, match=r"not a YOLOv10 model: layers model\.0 … model\.22.*YOLOv8-style"):
        read_weights(v8)
    resnet = tmp_path / "resnet.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).state_dict(), resnet)
    with pytest.raises(InputError, match="no YOLOv10 stem tensor"):
        read_weights(resnet)


def test_numpy_values_read_as_torch_reads_them(make_fixture, tmp_path):
    """Every numeric numpy scalar, dtype and small array a checkpoint may carry, pickled as torch.save does."""
    values = {
        "f64": np.float64(0.1),
        "f32": np.float32(1.5),
        "f16": np.float16(2.0),
        "i64": np.int64(-3),
        "u8": np.uint8(200),
        "b": np.bool_(True),
        "c": np.complex64(1 + 2j),
        "dtype": np.dtype("float32"),
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "device": torch.device("cuda", 1),
        "blob": b"\x00\xffbytes",
    }
    path = tmp_path / "numpy.pt"
    ckpt = trusted(make_fixture("n"))
    torch.save({**ckpt, "train_metrics": values}, path)
    from yolo10port.weights.reader import _unpickle

    read = _unpickle(path)["train_metrics"]
    for key in ("f64", "f32", "f16", "i64", "u8", "b", "c"):
        assert read[key] == values[key].item() and type(read[key]) is type(values[key].item()), key
    assert read["dtype"].resolve() == np.float32
    assert np.array_equal(read["array"].state["array"], values["array"])
    assert (read["device"], read["blob"]) == ("cuda:1", b"\x00\xffbytes")


# --- inspect ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", scale_params("".join(PAPER)))  # b, l, x: extended
def test_inspect_reproduces_the_paper(scale, make_fixture):
    path = make_fixture(scale)
    result = run_cli("inspect", path, "--format", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    params, gflops = PAPER[scale]
    assert (round(info["params_inference"] / 1e6, 1), round(info["gflops"], 1)) == (params, gflops)
    assert sum(layer["params"] for layer in info["layers"]) == info["params_inference"]
    assert abs(sum(layer["gflops"] for layer in info["layers"]) - info["gflops"]) < 1e-3
    # What the file stores, as torch counts it: the network as saved (both heads, unfused).
    network = trusted(path)["model"]
    assert info["params_total"] == sum(p.numel() for p in network.parameters())
    assert info["tensors"] == len(network.state_dict())
    assert (info["scale"], info["nc"], info["storage_dtype"], info["fused"]) == (scale, 80, "float16", False)
    assert info["saved_by"].startswith("ultralytics ") and info["names"]["0"] == "class0"


def test_inspect_counts_the_same_for_every_form(forms, hf_cache):
    fixture = inspect_file(forms["fixture"]).to_json()
    hf = inspect_file(f"hf:{REPO}").to_json()
    for entry in ("params_inference", "gflops", "params_total", "tensors", "scale", "nc", "names", "layers"):
        assert hf[entry] == fixture[entry], entry
    assert hf["storage_dtype"] == "float32" and hf["key_prefix_renamed"] == "model.model."


def test_inspect_fused_weights_counts_the_paper_too(make_fixture):
    info = inspect_file(make_fixture("n", fused=True)).to_json()
    assert (round(info["params_inference"] / 1e6, 1), round(info["gflops"], 1)) == PAPER["n"]
    assert info["fused"] and info["params_total"] == info["params_inference"] == 2_299_264


def test_inspect_table_says_its_definition(make_fixture):
    shown = run_cli("inspect", make_fixture("n"))
    assert shown.returncode == 0, shown.stderr
    assert "inference: 2.3M parameters, 6.7 GFLOPs at 640×640" in shown.stdout
    assert "one-to-one head only" in shown.stdout and "columns sum to the totals" in shown.stdout
    assert "2,299,264" in shown.stdout and "595 tensors, 2,775,520 parameters" in shown.stdout


LIGHT_INSPECT = """
import json, sys
sys.argv = ["yolo10port", "inspect", sys.argv[1], "--format", "json"]
from yolo10port.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "ultralytics", "cv2", "onnxruntime") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_inspect_of_a_dump_needs_neither_torch_nor_ultralytics(make_fixture, tmp_path):
    from yolo10port.reference.dump import dump_reference

    dump = dump_reference(make_fixture("n"), tmp_path / "ref.safetensors")
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_INSPECT, str(dump)], capture_output=True, text=True, timeout=120
    )
    *shown, verdict = result.stdout.strip().splitlines()
    assert json.loads(verdict) == {"code": 0, "heavy": []}, result.stderr
    info = json.loads("\n".join(shown))
    assert info["kind"] == "dump" and info["metadata"]["format"] == "yolo10port-dump/1"
    assert info["metadata"]["producer"].startswith("ultralytics ") and info["metadata"]["input"] == "ones:1x3x640x640"
    assert info["tensors"] == 26 and info["keys"][0]["key"] == "input" and info["keys"][1]["shape"] == [1, 16, 320, 320]
    assert info["noise_floor"]["rows"] == 25 and set(info["keys"][24]["noise_floor"]) == {
        "model.23/boxes",
        "model.23/scores",
    }
    table = run_cli("inspect", dump)
    assert table.returncode == 0 and "noise floor: 25 rows" in table.stdout and "boxes " in table.stdout
