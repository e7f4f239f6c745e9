"""A LiteRT (.tflite) model as a candidate: `ai-edge-litert` runs it, every module's output keyed by module path.

ultralytics exports LiteRT through litert-torch (torch.export, not TensorFlow), which keeps the one-to-one head and
top-k and names each tensor after the module scopes it was made in, `ClassName_attribute` per level
(`…C2f_6/…Conv_cv2/…SiLU_act;…`). Three things a mapper must know, all read from the clean model's module tree:

- a ModuleList's name is dropped (`C2f_13/Bottleneck_0` is `model.13.m.0`);
- a module called again is the same scope: its calls are told apart by order (`model.9.m`, `#1`, `#2`);
- a module's output is the last tensor made inside its scope and read outside it (or a graph output).

The interpreter keeps every intermediate tensor (`experimental_preserve_all_tensors`), read after one invoke. LiteRT
lays activations out NHWC: a tensor is transposed to NCHW only where its shape is the reference's in NHWC order, and
kept where it is already the reference's shape (attention's matrices are not NHWC). LiteRT cannot run a sub-part
of a model (a tensor set on an intermediate is overwritten by the invoke), so isolated error is not available for
it: the report says so.

Never imports ultralytics; exporting is ultralytics' job, in a separate environment (README, "ncnn and LiteRT").
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yolo10port import __version__
from yolo10port.candidates.backend import parse_options
from yolo10port.compare.engine import Report
from yolo10port.dumps.inputs import make_input
from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, HEAD
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError

OPTIONS: dict[str, type] = {"resolver": str, "num_threads": int}
RESOLVERS = ("xnnpack", "builtin", "builtin_ref")
SCOPE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)_([A-Za-z0-9_]+?)(?:#\d+)?$")


LITERT_FOLDER = Path("build/litert")  # LiteRT is exported by ultralytics in its own environment (make litert-export)


def exported_model(scale: str, imgsz: int, option: str = "--candidate") -> Path:
    """`--candidate litert`: `make litert-export`'s .tflite of this scale and size (the tool cannot export LiteRT
    itself); exit 2 naming the file when it is not there, or when ai-edge-litert is missing."""
    path = LITERT_FOLDER / f"yolov10{scale}-{imgsz}.tflite"
    if not path.is_file():
        raise InputError(
            option,
            f"litert needs {path}, or give the .tflite itself: a LiteRT export is ultralytics' job in its own "
            "environment (make litert-export writes the n fixture's at 160)",
        )
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        raise InputError(option, "litert needs ai-edge-litert (pip install 'yolo10port[full]')") from None
    return path


def runtime_options(pairs: list[str] | tuple[str, ...]) -> dict[str, object]:
    options = parse_options(pairs, OPTIONS, "litert")
    if options.get("resolver", "xnnpack") not in RESOLVERS:
        raise InputError("--runtime-option", f"resolver={options['resolver']}: one of {', '.join(RESOLVERS)}")
    return options


def _threads() -> int:
    """--threads, else OMP_NUM_THREADS, else the cores this process may use: one setting for every runtime."""
    from yolo10port.threads import thread_count

    return thread_count()


class LiteRtRuntime:
    """ai-edge-litert's Interpreter with every tensor kept (the Backend interface)."""

    name = "litert"
    can_feed_intermediates = False

    def __init__(self, path: Path, options: dict[str, object] | None = None, keep_all: bool = True):
        from ai_edge_litert import interpreter as litert

        options = {"resolver": "xnnpack", "num_threads": _threads(), **(options or {})}
        kinds = {
            "xnnpack": litert.OpResolverType.AUTO,  # the builtin kernels with XNNPACK as the default delegate
            "builtin": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "builtin_ref": litert.OpResolverType.BUILTIN_REF,
        }
        self.options = options
        try:
            import ai_edge_litert

            self.version = getattr(ai_edge_litert, "__version__", "")
        except ImportError:  # pragma: no cover
            self.version = ""
        try:
            self.interpreter = litert.Interpreter(
                model_path=str(path),
                num_threads=int(options["num_threads"]),
                experimental_op_resolver_type=kinds[str(options["resolver"])],
                experimental_preserve_all_tensors=keep_all,  # every intermediate readable (off: as deployed)
            )
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise InputError(path, f"LiteRT cannot load it: {str(error).splitlines()[0]}") from None

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        index = {detail["name"]: detail["index"] for detail in self.interpreter.get_tensor_details()}
        for name, array in feeds.items():
            self.interpreter.set_tensor(index[name], np.ascontiguousarray(array, dtype=np.float32))
        self.interpreter.invoke()
        return [np.array(self.interpreter.get_tensor(index[name])) for name in outputs]

    def metadata(self) -> dict[str, str]:
        return {
            "runtime": f"ai-edge-litert {self.version}".strip(),
            "precision": "float32",
            "kernels": str(self.options["resolver"]),
            "litert_options": json.dumps(self.options, sort_keys=True),
            "threads": str(self.options["num_threads"]),
        }


# --- names → module paths -------------------------------------------------------------------------------------


def scope_paths(name: str, tree: dict[str, str]) -> list[str]:
    """The module paths a tensor name's scope may end in. Each level is `package.Class_attribute`; a ModuleList's
    name is dropped, so a level may fit more than one path (the head's `Sequential_0` is one2one_cv2.0 or
    one2one_cv3.0): every fit is kept, and shapes decide later."""
    paths = [""]
    for level in name.split(";")[0].split("/"):
        _kind, _, attribute = level.rsplit(".", 1)[-1].partition("_")
        if not attribute:
            continue  # the root (DetectionModel)
        fits = []
        for path in paths:
            if not path:
                if attribute.isdigit() and f"model.{attribute}" in tree:
                    fits.append(f"model.{attribute}")
                continue
            if f"{path}.{attribute}" in tree:
                fits.append(f"{path}.{attribute}")
            for member in _module_lists(path, tree):
                if f"{member}.{attribute}" in tree:
                    fits.append(f"{member}.{attribute}")
        if fits:
            paths = fits
    return [path for path in paths if path]


def _module_lists(parent: str, tree: dict[str, str]) -> list[str]:
    return [p for p, kind in tree.items() if kind == "ModuleList" and p.rpartition(".")[0] == parent]


@dataclass
class LiteRtMap:
    values: dict[str, int]  # dump key → tensor index
    names: dict[str, str]  # dump key → tensor name
    types: dict[str, str]
    input_index: int
    input_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=list)
    # dump key → whether the tensor is NHWC by the op that makes it (any op but a TRANSPOSE or RESHAPE: LiteRT's
    # convolutions, pools and resizes are NHWC, and elementwise ops keep their inputs' layout). Used only where the
    # shape cannot tell: C = H = W (x's 80-channel stem at 160 px is 1×80×80×80 either way).
    nhwc: dict[str, bool] = field(default_factory=dict)


def map_tensors(structure, tree: dict[str, str], calls) -> LiteRtMap:
    """Dump key → the tensor its module's output is: of the tensors made inside the module's scope and read outside
    it (or a graph output), the last whose shape is the traced module's (a module called k times: the last k, in
    order). `model.23` is read inside the head (by its top-k): the last (4 + nc, A) tensor made in its scope.
    `structure` is an interpreter without delegates, whose op list is the model's own."""
    details = {d["index"]: d for d in structure.get_tensor_details()}
    ops = structure._get_ops_details()  # noqa: SLF001 - the only way to the op list from Python
    producer, readers = {}, defaultdict(list)
    for op in ops:
        for tensor in op["outputs"]:
            producer[int(tensor)] = op["index"]
        for tensor in op["inputs"]:
            if tensor >= 0:
                readers[int(tensor)].append(op["index"])
    graph_outputs = {d["index"] for d in structure.get_output_details()}
    scopes = {t: scope_paths(details[t]["name"], tree) for t in producer}
    op_scopes = {op["index"]: [p for t in op["outputs"] for p in scopes.get(int(t), [])] for op in ops}

    def inside(paths: list[str], module: str) -> bool:
        return any(p == module or p.startswith(module + ".") for p in paths)

    made: dict[str, list[int]] = defaultdict(list)  # module → tensors made inside, read outside, in order
    everything: dict[str, list[int]] = defaultdict(list)  # module → every tensor made inside, in order
    for tensor in sorted(producer, key=producer.get):
        modules = {".".join(p.split(".")[:cut]) for p in scopes[tensor] for cut in range(2, p.count(".") + 2)}
        for module in modules:
            everything[module].append(tensor)
            if tensor in graph_outputs or any(not inside(op_scopes[r], module) for r in readers.get(tensor, [])):
                made[module].append(tensor)
    per_path: dict[str, list[str]] = defaultdict(list)
    for key, call in calls.items():
        per_path[call.path].append(key)
    op_names = {op["index"]: op["op_name"] for op in ops}
    values, names, types, nhwc = {}, {}, {}, {}
    for path, keys in per_path.items():
        call = calls[keys[0]]
        pool = everything[path] if path == DECODED_HEAD else made[path]
        fitting = [t for t in pool if _fits(tuple(int(d) for d in details[t]["shape"]), call.shape)]
        for key, tensor in zip(keys, fitting[-len(keys) :] if fitting else []):
            values[key], names[key], types[key] = tensor, details[tensor]["name"], calls[key].type
            nhwc[key] = op_names.get(producer[tensor]) not in ("TRANSPOSE", "RESHAPE")
    (input_detail,) = structure.get_input_details()
    order = {key: i for i, key in enumerate(calls)}
    values = dict(sorted(values.items(), key=lambda item: order[item[0]]))
    shape = tuple(int(d) for d in input_detail["shape"])
    return LiteRtMap(values, names, types, input_detail["index"], shape, nhwc=nhwc)


def _fits(shape: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    """Whether a tensor of `shape` is the module's output of shape `wanted`, in some layout as_nchw undoes."""
    if shape == wanted:
        return True
    if len(wanted) == 4 and shape == (wanted[0], wanted[2], wanted[3], wanted[1]):
        return True
    if len(wanted) == 3 and shape == (wanted[0], wanted[2], wanted[1]):
        return True
    squeezed = [d for d in shape if d != 1] == [d for d in wanted if d != 1]
    return squeezed and int(np.prod(shape)) == int(np.prod(wanted))


def as_nchw(array: np.ndarray, wanted: tuple[int, ...], nhwc: bool = False) -> np.ndarray | None:
    """`array` in the reference's layout: as it is when its shape is the reference's, transposed when it is the
    reference's NHWC; None when it is neither. Where both shapes coincide (C = H = W), `nhwc` (the producing op's
    layout, LiteRtMap.nhwc) decides."""
    ambiguous = len(wanted) == 4 and wanted[1] == wanted[2] == wanted[3]
    if array.shape == wanted and not (ambiguous and nhwc):
        return array
    if len(wanted) == 4 and array.shape == (wanted[0], wanted[2], wanted[3], wanted[1]):
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    if len(wanted) == 3 and array.shape == (wanted[0], wanted[2], wanted[1]):  # the head's (B, A, 4 + nc)
        return np.ascontiguousarray(array.transpose(0, 2, 1))
    if array.size == int(np.prod(wanted)) and [d for d in array.shape if d != 1] == [d for d in wanted if d != 1]:
        return array.reshape(wanted)
    return None


@dataclass
class LiteRtCandidate:
    path: Path
    runtime: LiteRtRuntime
    lmap: LiteRtMap
    scale: str
    nc: int
    label: str
    kind: str = "litert"
    weights_sha256: str = ""
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path, options: dict[str, object] | None = None) -> LiteRtCandidate:
        from yolo10port.candidates.module_tree import reference_tree
        from yolo10port.candidates.ncnn_map import traced

        path = Path(path)
        if not path.is_file():
            raise InputError(path, "no such .tflite file")
        runtime = LiteRtRuntime(path, options)
        # The op list of a delegated interpreter hides XNNPACK's partitions: read the structure without delegates.
        interpreter = LiteRtRuntime(path, {"resolver": "builtin", "num_threads": 1}).interpreter
        (inp,) = interpreter.get_input_details()
        shape = tuple(int(d) for d in inp["shape"])
        if len(shape) != 4 or shape[1] != 3:
            raise InputError(path, f"input shape {shape} is not a (1, 3, H, W) image batch")
        scale, nc = _scale_nc(interpreter, path)
        tree = reference_tree(scale, nc)
        lmap = map_tensors(interpreter, tree, traced(scale, nc, shape[2], shape[3]).calls)
        missing = [f"model.{i}" for i in range(24) if f"model.{i}" not in lmap.values]
        if missing:
            raise InputError(path, f"no tensor named after {', '.join(missing[:3])}: not litert-torch's YOLOv10 export")
        label = f"LiteRT {runtime.version} on {path.name} ({runtime.options['resolver']})"
        candidate = cls(path, runtime, lmap, scale, nc, label)
        candidate.notes.append("LiteRT cannot run a sub-part of a model: no isolated error for this candidate")
        return candidate

    @property
    def fused(self) -> bool:
        return True

    def dump(self, out: Path, spec: RunSpec) -> Path:
        import torch

        from yolo10port.candidates.module_tree import no_counterpart, reference_tree
        from yolo10port.candidates.ncnn_map import traced
        from yolo10port.dumps.run import stream_dump

        if spec.dtype != "float32" or spec.tf32 or spec.device != "cpu":
            raise InputError("--dtype", "a LiteRT model runs on the CPU in the precision it was exported in")
        model_input = make_input(spec)
        shape = tuple(model_input.tensor.shape)
        if shape[1:] != self.lmap.input_shape[1:]:
            raise InputError("--imgsz", f"the .tflite takes {self.lmap.input_shape}, not {shape}: export it again")
        calls = traced(self.scale, self.nc, shape[2], shape[3]).calls
        keys = [k for k in self.lmap.values if _wanted(k, spec)]
        absent = no_counterpart(keys, reference_tree(self.scale, self.nc), spec.depth, spec.within)
        outputs = {d["index"]: d for d in self.runtime.interpreter.get_output_details()}
        top_k = next((i for i, d in outputs.items() if tuple(d["shape"])[-1] == 6), None)

        def forward(recorder) -> None:
            per_image = []
            names = [self.lmap.names[k] for k in keys]
            for image in model_input.tensor.numpy():
                feed = {self._input_name(): image[None]}
                extra = [outputs[top_k]["name"]] if top_k is not None else []
                per_image.append(self.runtime.run(feed, names + extra))
            for i, key in enumerate(keys):
                parts = [as_nchw(arrays[i], calls[key].shape, self.lmap.nhwc.get(key, False)) for arrays in per_image]
                if any(p is None for p in parts):
                    self.notes.append(f"{key}: tensor {self.lmap.names[key]!r} does not have the module's shape")
                    continue
                recorder.record(key, torch.from_numpy(np.concatenate(parts)), self.lmap.types[key])
            if top_k is not None and _wanted(DETECTIONS, spec):
                detections = np.concatenate([arrays[-1] for arrays in per_image])
                recorder.record(DETECTIONS, torch.from_numpy(detections), "top-k (in the model)")

        metadata = {
            "producer": f"ai-edge-litert {self.runtime.version}",
            "tool": f"yolo10port {__version__}",
            "graph": self.path.name,
            "head": HEAD,
            "scale": self.scale,
            "nc": str(self.nc),
            "fused": "true",
            "depth": spec.depth_label,
            "litert_tensors": json.dumps({k: self.lmap.names[k] for k in keys}),
            "no_counterpart": json.dumps(absent),
            **({"weights_sha256": self.weights_sha256} if self.weights_sha256 else {}),
            **self.runtime.metadata(),
        }
        return stream_dump(out, model_input, forward, metadata)

    def _input_name(self) -> str:
        return self.runtime.interpreter.get_input_details()[0]["name"]

    def attach_isolated(self, report: Report, reference: Path) -> int:
        report.notes.append("isolated error: LiteRT cannot run a sub-part of a model (no column for this candidate)")
        return 0


def _wanted(key: str, spec: RunSpec) -> bool:
    if key == DETECTIONS:
        return spec.within in (None, DECODED_HEAD)
    path = key.split("#")[0]
    if spec.within is not None and path != spec.within and not path.startswith(spec.within + "."):
        return False
    return spec.depth is None or path.count(".") <= spec.depth


def _scale_nc(interpreter, path: Path) -> tuple[str, int]:
    """The scale and class count from the convolution filters (the stem's out channels, the filters' count)."""
    from yolo10port.candidates.ncnn_map import traced
    from yolo10port.model.scales import SCALES
    from yolo10port.weights.scales import SCALE_SIGNATURES

    convs = [op for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]  # noqa: SLF001
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    if len(convs) < 3:
        raise InputError(path, "holds too few convolutions to be a YOLOv10 export")
    stem = int(details[convs[0]["inputs"][1]]["shape"][0])
    # The class count: the decoded head, the last (B, 4 + nc, A) or (B, A, 4 + nc) tensor made before the top-k.
    (inp,) = interpreter.get_input_details()
    h, w = (int(d) for d in inp["shape"][2:])
    anchors = (h // 8) * (w // 8) + (h // 16) * (w // 16) + (h // 32) * (w // 32)
    widths = set()
    for op in interpreter._get_ops_details():  # noqa: SLF001 - op order = execution order
        if op["op_name"].startswith("TOPK"):
            break
        for tensor in op["outputs"]:
            shape = tuple(int(d) for d in details[int(tensor)]["shape"])
            if len(shape) == 3 and anchors in shape[1:] and max(shape[1:]) > 4 and shape[1] != shape[2]:
                other = shape[1] if shape[2] == anchors else shape[2]
                widths.add(other)
    # The class scores (B, nc, A) and the decoded head (B, 4 + nc, A) are both there; box logits (64) are not paired.
    paired = [width for width in widths if width + 4 in widths]
    nc = max(paired) if paired else None
    if nc is None:
        raise InputError(path, "no decoded head (B, 4 + nc, anchors) among its tensors: not a YOLOv10 export")
    for scale in SCALES:
        if SCALE_SIGNATURES[scale][0] == stem and len(traced(scale, nc).convs) in (len(convs), len(convs) + 1):
            return scale, nc
    raise InputError(path, f"its stem ({stem} channels, {len(convs)} convolutions) matches none of the six scales")


def litert_candidate(path: str, weights, spec: RunSpec, options: dict[str, object] | None = None) -> LiteRtCandidate:
    """`check --candidate MODEL.tflite`: the file, after checking it is these weights' network (scale, class count,
    and model.0's conv against the checkpoint's BatchNorm-folded one)."""
    from yolo10port.candidates.module_tree import SAME_WEIGHTS_COSINE, folded_stem

    candidate = LiteRtCandidate.open(path, options)
    name = weights.path.name
    if (candidate.scale, candidate.nc) != (weights.scale, weights.nc):
        raise InputError(
            path,
            f"the .tflite is YOLOv10-{candidate.scale} with {candidate.nc} classes, {name} is YOLOv10-{weights.scale} "
            f"with {weights.nc}: give the file exported from these weights",
        )
    interpreter = LiteRtRuntime(Path(path), {"resolver": "builtin", "num_threads": 1}).interpreter
    first = next(op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D")  # noqa: SLF001
    ours = np.asarray(interpreter.get_tensor(int(first["inputs"][1])), np.float64).transpose(0, 3, 1, 2)
    theirs = folded_stem(weights)
    if theirs is not None and ours.shape == theirs.shape:
        a, b = ours.ravel(), theirs.ravel()
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
        if cosine < SAME_WEIGHTS_COSINE:
            raise InputError(path, f"its model.0 conv is not {name}'s (cosine {cosine:.2f}): other weights")
    candidate.weights_sha256 = weights.source_sha256
    return candidate
