"""`yolo10port spec`: a porter's specification, read from the network ultralytics actually builds.

Source and YAML mislead: SPPF's `cv1` is written `act=False` in block.py, yet v10's parse_model builds it with SiLU.
So every figure here comes from the built modules and from one hooked forward at the given size: each module's
type, input and output shapes, hyperparameters (kernel, stride, padding, groups, dilation, BatchNorm eps and
momentum, the activation each Conv really applies, the attention's heads and scale, Upsample's mode, Concat's
sources…), its own parameter keys with shapes; the decoded head's layout and the top-k rules, each checked against
what ultralytics computed on that run (not copied from its code); and the dump keys `dump --depth all` writes for
this model, with the grammar they follow.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from yolo10port.dumps.capture import Recorder, unshare_modules
from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, INPUT, INPUT_MARK
from yolo10port.dumps.spec import RunSpec, check_imgsz
from yolo10port.reference.dump import is_one_to_many, run_hooked
from yolo10port.reference.network import reference_network, ultralytics_version
from yolo10port.weights.reader import Weights, read_weights

SPEC_FORMAT = "yolo10port-spec/1"
ANCHOR_OFFSET = 0.5  # what make_anchors is given; checked below against the decoded boxes of the run

# The dump key grammar, as dumps/capture.py and reference/dump.py write it (README, "Writing a dump from another
# language"); `spec` prints it with the full key list of the model at hand.
KEY_GRAMMAR = [
    "`input`: the exact input tensor, (B, 3, H, W) float32 RGB in [0, 1], NCHW.",
    "one key per module that ran, named by its ultralytics module path: `model.0` … `model.22`, and below them "
    "`model.2.cv1`, `model.2.m.0.cv1.conv`, `model.10.attn.qkv`, `model.22.m.0.cv1.2.conv1` (every depth).",
    "every ultralytics Conv writes `.conv` (the Conv2d), `.bn` (the BatchNorm2d) and `.act` (the activation, "
    "written even when it is Identity), then the Conv's own key; a fused network has no `.bn`.",
    "containers write their own output too: `model.10.ffn`, `model.22.m.0.cv1` (nn.Sequential), `model.2.m.0` "
    "(Bottleneck); an nn.ModuleList (`model.2.m`) is never called and has no key.",
    "children come before their parent, in execution order: `model.0.conv`, `model.0.bn`, `model.0.act`, `model.0`.",
    "a module called more than once gets `#k` from its second call on: SPPF's max-pool `model.9.m`, `model.9.m#1`, "
    "`model.9.m#2`.",
    "a module returning a tuple, list or dict gets `<key>/<index-or-dict-key>`.",
    "the head: `model.23.one2one_cv2.i.j` (box branch of level i, step j), `model.23.one2one_cv3.i.j.k` (class "
    "branch), `model.23.dfl.conv` (B, 1, 4, A) and `model.23.dfl` (B, 4, A); the one-to-many branches "
    "`model.23.cv2`/`model.23.cv3` are computed by ultralytics but never dumped.",
    "`model.23`: the decoded one-to-one prediction before top-k, (B, 4 + nc, A): x1, y1, x2, y2 in input pixels, "
    "then the class scores after the sigmoid.",
    "`detections`: the post-processed output (B, min(max_det, A), 6): x1, y1, x2, y2, score, class (a float).",
    "with `--with-inputs`, a module's input as `<path>@input` (`<path>@input#k` for its k-th call; a list input, "
    "as Concat and the head receive, as `<path>@input/<i>`); `diff` never compares these keys.",
]


# --- what one module is ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-able form of an attribute, or None when it is not a hyperparameter (a tensor of weights, a module)."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    if isinstance(value, torch.Tensor) and value.numel() <= 8:
        return value.flatten().tolist()
    return None


SKIPPED_ATTRIBUTES = {"training", "np", "i", "f", "type", "yaml", "names"}
HEAD_SETTINGS = ("nc", "nl", "reg_max", "no", "stride", "max_det", "end2end", "agnostic_nms", "export", "format",
                 "dynamic", "legacy", "xyxy")  # fmt: skip


def hyperparameters(module: nn.Module) -> dict[str, Any]:
    """The module's own settings as built: every plain attribute, plus what matters to a porter but is not one
    (whether a Conv2d has a bias, which activation a Conv applies, how Attention splits qkv)."""
    found = {
        name: plain
        for name, value in vars(module).items()
        if not name.startswith("_") and name not in SKIPPED_ATTRIBUTES and (plain := _plain(value)) is not None
    }
    if isinstance(module, nn.Conv2d):
        found["bias"] = module.bias is not None
    act = getattr(module, "act", None)
    if isinstance(act, nn.Module):
        found["activation"] = type(act).__name__
    if type(module).__name__ == "Attention":
        found["qkv_split_per_head"] = [module.key_dim, module.key_dim, module.head_dim]  # q, k, v channels
    if type(module).__name__ == "v10Detect":
        found.update({name: _plain(getattr(module, name, None)) for name in HEAD_SETTINGS})
    if type(module).__name__ == "DFL":
        found["bins"] = module.c1
        found["conv_weight_is_arange"] = bool(
            torch.equal(module.conv.weight.detach().flatten().float(), torch.arange(module.c1, dtype=torch.float))
        )
    if isinstance(module, nn.MaxPool2d):
        found["padding_value"] = "-inf (torch's max-pool pads with -inf, not zeros)"
    return found


def layer_wiring(index: int, module: nn.Module, saved: set[int]) -> dict[str, Any]:
    """A top-level layer's place in the graph: where its input comes from (absolute indices, in order) and
    whether a later layer reads its output again."""
    sources = module.f if isinstance(module.f, list) else [module.f]
    absolute = [index + s if s < 0 else s for s in sources]
    return {
        "from": [f"model.{s}" for s in absolute],
        "f": module.f,
        "reused_later": index in saved,
        "ultralytics_type": module.type,
    }


def own_parameters(module: nn.Module, path: str) -> dict[str, list[int]]:
    """The module's own tensors (not its children's), as checkpoint keys → shapes."""
    tensors = dict(module.named_parameters(recurse=False)) | dict(module.named_buffers(recurse=False))
    return {f"{path}.{name}": list(t.shape) for name, t in tensors.items() if t is not None}


# --- one hooked run --------------------------------------------------------------------------------------------


class ShapeRecorder(Recorder):
    """A Recorder that keeps shapes in execution order, and the few tensors the head checks need."""

    KEPT = (DECODED_HEAD, DETECTIONS, "model.23.dfl")

    def __init__(self) -> None:
        super().__init__(self._sink)
        self.shapes: dict[str, list[int]] = {}
        self.kept: dict[str, torch.Tensor] = {}

    def _sink(self, key: str, tensor: torch.Tensor) -> None:
        self.shapes[key] = list(tensor.shape)
        if key in self.KEPT or key.startswith(("model.23.one2one_cv2.", "model.23.one2one_cv3.")):
            self.kept[key] = tensor.detach().clone()


def key_path(key: str) -> tuple[str, bool]:
    """`model.9.m#1` → (`model.9.m`, False); `model.12@input/0` → (`model.12`, True)."""
    base = key.split("/")[0].partition("#")[0]
    return base.removesuffix(INPUT_MARK), base.endswith(INPUT_MARK)


def group_calls(shapes: dict[str, list[int]]) -> dict[str, list[dict]]:
    """Module path → its calls in order, each with the input and output keys and shapes."""
    calls: dict[str, list[dict]] = {}
    for key, shape in shapes.items():
        if key in (INPUT, DETECTIONS):
            continue
        path, is_input = key_path(key)
        call = int(key.split("/")[0].partition("#")[2] or 0)
        entries = calls.setdefault(path, [])
        while len(entries) <= call:
            entries.append({"key": path + (f"#{len(entries)}" if entries else ""), "input": {}, "output": {}})
        entries[call]["input" if is_input else "output"][key] = shape
    return calls


# --- the head, checked on the run ------------------------------------------------------------------------------


def level_grid(imgsz: int, strides: list[float]) -> list[dict]:
    levels, first = [], 0
    for stride in strides:
        side = imgsz // int(stride)
        levels.append({"stride": stride, "grid": [side, side], "anchors": side * side, "first_anchor": first})
        first += side * side
    return levels


def check_decoding(head: nn.Module, kept: dict[str, torch.Tensor], levels: list[dict]) -> dict[str, Any]:
    """What the run shows about the decoding: the DFL expectation, anchor centres and offset, box form, sigmoid."""
    nl, reg_max, nc = head.nl, head.reg_max, head.nc
    raw_boxes = torch.cat([kept[f"model.23.one2one_cv2.{i}"].flatten(2) for i in range(nl)], -1).double()
    raw_scores = torch.cat([kept[f"model.23.one2one_cv3.{i}"].flatten(2) for i in range(nl)], -1).double()
    batch, _, anchors = raw_boxes.shape
    bins = torch.arange(reg_max, dtype=torch.float64)
    distances = (raw_boxes.view(batch, 4, reg_max, anchors).softmax(2) * bins[:, None]).sum(2)  # l, t, r, b
    decoded = kept[DECODED_HEAD].double()
    boxes = decoded[:, :4]
    stride = torch.cat([torch.full((lv["anchors"],), lv["stride"], dtype=torch.float64) for lv in levels])
    centre_x = boxes[:, 0] / stride + distances[:, 0]  # x1 = (cx − l)·s
    centre_y = boxes[:, 1] / stride + distances[:, 1]
    expected_x = torch.cat([torch.arange(lv["grid"][1]).repeat(lv["grid"][0]) for lv in levels]).double()
    expected_y = torch.cat([torch.arange(lv["grid"][0]).repeat_interleave(lv["grid"][1]) for lv in levels]).double()
    offset_x, offset_y = centre_x - expected_x, centre_y - expected_y
    scale = float(decoded[:, :4].abs().max())
    return {
        "dfl_matches_softmax_expectation": float((kept["model.23.dfl"].double() - distances).abs().max()) < 1e-4,
        "anchor_offset_measured": [round(float(offset_x.mean()), 6), round(float(offset_y.mean()), 6)],
        "anchor_offset_spread": float(max(offset_x.max() - offset_x.min(), offset_y.max() - offset_y.min())),
        "boxes_are_xyxy_pixels": bool(
            torch.allclose(boxes[:, 2], (centre_x + distances[:, 2]) * stride, atol=1e-4 * scale)
            and torch.allclose(boxes[:, 3], (centre_y + distances[:, 3]) * stride, atol=1e-4 * scale)
        ),
        "scores_are_sigmoid_of_logits": float((decoded[:, 4:] - raw_scores.sigmoid()).abs().max()) < 1e-5,
        "classes": nc,
    }


def _two_step_topk(decoded: torch.Tensor, max_det: int) -> torch.Tensor:
    """The rule as this spec states it, in plain torch: the anchors with the highest best-class score, then the
    highest (anchor, class) scores among them; boxes gathered by anchor, class as a float."""
    boxes, scores = decoded[..., :4], decoded[..., 4:]
    k = min(max_det, scores.shape[1])
    nc = scores.shape[-1]
    best = scores.max(-1).values.topk(k, dim=-1).indices  # (B, k) anchors
    kept = torch.gather(scores, 1, best[..., None].expand(-1, -1, nc))
    top, flat = kept.flatten(1).topk(k, dim=-1)
    anchor = torch.gather(best, 1, flat // nc)
    picked = torch.gather(boxes, 1, anchor[..., None].expand(-1, -1, 4))
    return torch.cat([picked, top[..., None], (flat % nc)[..., None].float()], -1)


def probe_topk(head: nn.Module, anchors: int) -> dict[str, Any]:
    """Run ultralytics' own postprocess on planted predictions and compare with the stated rule."""
    generator = torch.Generator().manual_seed(0)
    saved_max_det = head.max_det
    k = max(2, min(10, anchors // 4))
    try:
        head.max_det = k
        planted = torch.rand(2, anchors, 4 + head.nc, generator=generator, dtype=torch.float64)
        planted[0, 3, 4:6] = torch.tensor([1.5, 1.4])  # one anchor, two classes above all others: two rows
        with torch.inference_mode():
            theirs = head.postprocess(planted.clone())
        mine = _two_step_topk(planted, k)
        same_anchor_twice = int((theirs[0, :, :4] == planted[0, 3, :4]).all(-1).sum())
        sorted_down = bool((theirs[..., 4].diff(dim=-1) <= 0).all())
        head.max_det = anchors + 5
        with torch.inference_mode():
            rows = head.postprocess(planted.clone()).shape[1]
    finally:
        head.max_det = saved_max_det
    return {
        "matches_stated_rule": bool(torch.equal(theirs, mine)),
        "one_anchor_can_give_several_detections": same_anchor_twice == 2,
        "sorted_by_score_descending": sorted_down,
        "rows_when_max_det_exceeds_anchors": rows,
        "probe": f"2 × {anchors} random predictions, max_det {k}",
    }


def head_section(head: nn.Module, kept: dict[str, torch.Tensor], imgsz: int, batch: int) -> dict[str, Any]:
    strides = [float(s) for s in head.stride]
    levels = level_grid(imgsz, strides)
    anchors = sum(lv["anchors"] for lv in levels)
    return {
        "decoded_key": DECODED_HEAD,
        "decoded_shape": [batch, 4 + head.nc, anchors],
        "layout": "channels 0–3: x1, y1, x2, y2 in input pixels; channels 4…: class scores after the sigmoid; "
        "anchors level by level (stride 8, 16, 32), each level row-major (y, then x)",
        "strides": strides,
        "levels": levels,
        "anchor_offset": ANCHOR_OFFSET,
        "anchor_centre": "((x + 0.5) · stride, (y + 0.5) · stride) for grid cell (x, y)",
        "dfl": {
            "bins": head.reg_max,
            "rule": "box branch (B, 4·bins, A) → view (B, 4, bins, A) → softmax over bins → expectation with weights "
            "0…bins−1 (the 1×1 conv `model.23.dfl.conv`, input (B, bins, 4, A), output (B, 1, 4, A)) → (B, 4, A) "
            "distances l, t, r, b in units of the stride",
            "box": "x1 = (cx − l)·s, y1 = (cy − t)·s, x2 = (cx + r)·s, y2 = (cy + b)·s",
        },
        "checked_on_this_run": check_decoding(head, kept, levels),
        "topk": {
            "max_det": int(head.max_det),
            "rule": "k = min(max_det, A); step 1: the k anchors with the highest best-class score (topk over the "
            "max over classes); step 2: the k highest scores among those k anchors × nc classes (topk over the "
            "flattened scores); each row is the anchor's box, the score, and the class (index mod nc) as a float",
            "threshold": "none: every one of the k rows is written, low scores included",
            "agnostic": bool(getattr(head, "agnostic_nms", False)),
            "checked_on_ultralytics_postprocess": probe_topk(head, anchors),
        },
        "detections_shape": [batch, min(int(head.max_det), anchors), 6],
    }


# --- the whole specification -----------------------------------------------------------------------------------


def build_spec(model: str | Path | Weights, imgsz: int = 640) -> dict[str, Any]:
    """The porter's specification of `model` at imgsz × imgsz (batch 1, float32, CPU)."""
    check_imgsz(imgsz)
    weights = model if isinstance(model, Weights) else read_weights(model)
    network = reference_network(weights)
    unshare_modules(network)  # one SiLU instance per Conv, as `dump` hooks it: each path records only itself
    head = network.model[-1]
    recorder = ShapeRecorder()
    images = torch.ones(1, 3, imgsz, imgsz)
    recorder.sink(INPUT, images)
    run_hooked(network, images, recorder, RunSpec(imgsz=imgsz, depth=None, with_inputs=True))
    calls = group_calls(recorder.shapes)
    saved = set(network.save)

    modules = []
    for path, module in network.named_modules():
        if not path.startswith("model."):
            continue
        entry: dict[str, Any] = {"path": path, "type": type(module).__name__}
        entry["class"] = f"{type(module).__module__}.{type(module).__qualname__}"
        if path.count(".") == 1:
            entry["layer"] = layer_wiring(int(path.split(".")[1]), module, saved)
        entry["hyperparameters"] = hyperparameters(module)
        entry["children"] = [name for name, _ in module.named_children()]
        entry["parameters"] = own_parameters(module, path)
        if isinstance(module, nn.ModuleList):
            entry["note"] = "a list, never called itself: its members are"
        elif is_one_to_many(path):
            entry["note"] = "one-to-many head: ultralytics computes it, the one-to-one output never uses it; not dumped"
        elif path == DECODED_HEAD:
            entry["note"] = "its key holds the decoded prediction before top-k; `detections` holds the top-k rows"
        entry["calls"] = calls.get(path, [])
        modules.append(entry)

    outputs = [k for k in recorder.shapes if not key_path(k)[1]]
    inputs = [k for k in recorder.shapes if key_path(k)[1]]
    return {
        "format": SPEC_FORMAT,
        "producer": ultralytics_version(),
        "model": weights.path.name,
        "weights_sha256": weights.source_sha256,
        "scale": weights.scale,
        "nc": weights.nc,
        "fused": weights.fused,
        "imgsz": imgsz,
        "input": f"ones:1x3x{imgsz}x{imgsz}",
        "head": head_section(head, recorder.kept, imgsz, batch=1),
        "keys": {
            "grammar": KEY_GRAMMAR,
            "outputs": [
                {"key": k, "shape": recorder.shapes[k], "type": recorder.module_types.get(k, k)} for k in outputs
            ],
            "inputs": [{"key": k, "shape": recorder.shapes[k]} for k in inputs],
        },
        "modules": modules,
    }


def subtree(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The spec with only `path` and its descendants among the modules (and their keys)."""
    inside = lambda p: p == path or p.startswith((path + ".", path + "#", path + "@", path + "/"))  # noqa: E731
    modules = [m for m in spec["modules"] if inside(m["path"])]
    keys = spec["keys"]
    return {
        **spec,
        "modules": modules,
        "keys": {
            **keys,
            "outputs": [k for k in keys["outputs"] if inside(k["key"])],
            "inputs": [k for k in keys["inputs"] if inside(k["key"])],
        },
    }
