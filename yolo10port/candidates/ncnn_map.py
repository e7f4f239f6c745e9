"""Read an ncnn model (.param + .bin) and name its blobs by ultralytics module path, by structure alone.

An ncnn export keeps no module path: pnnx names layers `conv_3`, `silu_76` and blobs by number, and ultralytics
deletes pnnx's own `model.pnnx.param`. What survives is the network's structure, so the mapping is structural:

- the convolutions, in execution order, are matched one for one to those of the fused YOLOv10 of the same scale and
  class count (the clean model's, traced on the meta device: no weights, no ultralytics), each checked on output
  and input channels, kernel, stride and groups — a file of another network is refused, never half-mapped;
- every module's output then follows from its convolutions: a Conv is its SiLU's output (or its conv's, without an
  activation), a residual block the add that reads its last conv, a Concat the Concat layer whose sources (followed
  back through ncnn's Split copies) are the outputs of the modules it concatenates, SPPF's three pools the Pooling
  layers in order, the head the graph output; any other module is the output of its last child;
- each mapped blob's shape is checked against the traced module's when the candidate runs it.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, in_selection
from yolo10port.errors import InputError

PARAM_MAGIC = "7767517"
CONVS = ("Convolution", "ConvolutionDepthWise")
FP32_TAG, FP16_TAG = 0x00000000, 0x01306B47  # ncnn's ModelBin tags before a weight array
ONE_TO_MANY_FIX = "export the one-to-one head instead: yolo10port ncnn MODEL"
EXPORT_MARKER = "# yolo10port ncnn export"  # first line of the metadata.yaml `yolo10port ncnn` writes


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, str]

    def int(self, key: int, default: int = 0) -> int:
        return int(float(self.params.get(key, default)))


@dataclass
class NcnnParam:
    path: Path
    layers: list[Layer]
    producer: dict[str, int] = field(default_factory=dict)  # blob → index of the layer that writes it
    consumers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for index, layer in enumerate(self.layers):
            for blob in layer.outputs:
                self.producer[blob] = index
            for blob in layer.inputs:
                self.consumers[blob].append(index)

    @property
    def inputs(self) -> list[str]:
        return [layer.outputs[0] for layer in self.layers if layer.type == "Input"]

    @property
    def outputs(self) -> list[str]:
        """Blobs no layer reads: the graph's outputs."""
        return [blob for layer in self.layers for blob in layer.outputs if not self.consumers.get(blob)]

    def source(self, blob: str) -> str:
        """The blob a Split copy was made from (followed back through any number of Splits)."""
        while (index := self.producer.get(blob)) is not None and self.layers[index].type == "Split":
            blob = self.layers[index].inputs[0]
        return blob

    def readers(self, blob: str) -> list[int]:
        """The layers that read `blob` directly or through Split copies."""
        found = []
        for index in self.consumers.get(blob, []):
            layer = self.layers[index]
            if layer.type == "Split":
                for copy in layer.outputs:
                    found += self.readers(copy)
            else:
                found.append(index)
        return found

    def convs(self) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if layer.type in CONVS]


def read_param(path: Path) -> NcnnParam:
    """Parse ncnn's text .param format; exit 2 naming the file when it is not one."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read an ncnn .param file: {error}") from None
    if not lines or lines[0].strip() != PARAM_MAGIC:
        raise InputError(path, f"not an ncnn text .param file (its first line is not the magic {PARAM_MAGIC})")
    layers = []
    try:
        declared = int(lines[1].split()[0])
        for line in lines[2:]:
            parts = line.split()
            if not parts:
                continue
            kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
            blobs = parts[4 : 4 + n_in + n_out]
            params = {}
            for item in parts[4 + n_in + n_out :]:
                key, _, value = item.partition("=")
                params[int(key)] = value
            layers.append(Layer(kind, name, blobs[:n_in], blobs[n_in:], params))
    except (IndexError, ValueError):
        raise InputError(path, "malformed ncnn .param line") from None
    if len(layers) != declared:
        raise InputError(path, f"declares {declared} layers but holds {len(layers)}")
    return NcnnParam(path, layers)


def conv_spans(param: NcnnParam, data: bytes, where: Path) -> dict[int, tuple[int, int, str]]:
    """Where each conv layer's weight array lies in the .bin bytes: layer index → (offset, count, dtype). ncnn
    stores the weighted layers' arrays in .param order, a weight array behind a 4-byte type tag, biases and
    MemoryData raw float32."""
    offset, spans = 0, {}
    for index, layer in enumerate(param.layers):
        if layer.type in CONVS:
            size = layer.int(6)
            if offset + 4 > len(data):
                break
            (tag,) = np.frombuffer(data, "<u4", 1, offset)
            offset += 4
            if tag == FP32_TAG:
                spans[index] = (offset, size, "<f4")
                offset += 4 * size
            elif tag == FP16_TAG:
                spans[index] = (offset, size, "<f2")
                offset += (2 * size + 3) // 4 * 4
            else:
                raise InputError(where, f"{layer.name}: weights stored with tag {tag:#x} (quantized?), not read")
            if layer.int(5):
                offset += 4 * layer.int(0)
        elif layer.type == "MemoryData":
            offset += 4 * max(layer.int(0), 1) * max(layer.int(1), 1) * max(layer.int(2), 1) * max(layer.int(11), 1)
        elif layer.type in ("InnerProduct", "BatchNorm", "Scale", "PReLU", "Embed", "LayerNorm", "GroupNorm"):
            break  # not in a YOLOv10 export: the offsets after it would be guesses
    if offset > len(data):
        raise InputError(where, f"shorter ({len(data)} bytes) than its .param's weights need ({offset})")
    return spans


def conv_arrays(param: NcnnParam, bin_path: Path) -> dict[int, np.ndarray]:
    """Each conv layer's weight (float32, flat) read from the .bin, by layer index."""
    data = bin_path.read_bytes()
    return {
        index: np.frombuffer(data, dtype, count, offset).astype(np.float32)
        for index, (offset, count, dtype) in conv_spans(param, data, bin_path).items()
    }


# --- the fused network of this scale and class count, traced on the meta device ---------------------------------


@dataclass
class Call:
    key: str  # dump key: path, `#k` for a repeated call
    path: str
    type: str
    shape: tuple[int, ...]
    children: list[str]  # keys of the direct children's calls, in execution order
    sources: list[str]  # keys of the calls whose outputs this call received (top level)


@dataclass
class Traced:
    calls: dict[str, Call]  # execution (completion) order
    convs: list[tuple[str, tuple[int, int, int, int, int]]]  # (path, (out, in, k, stride, groups)), fused order
    attrs: dict[str, dict]  # path → {"add": bool, "act": bool}


@functools.lru_cache(maxsize=8)
def traced(scale: str, nc: int, imgsz: int = 640, width: int | None = None) -> Traced:
    """The clean YOLOv10 (paths equal ultralytics') traced on the meta device: every module call with its output
    shape and children, and the convs a fused export keeps (RepVGGDW's 3×3 branch folds into the 7×7)."""
    import torch
    from torch import nn

    from yolo10port.model import YOLOv10
    from yolo10port.model.blocks import RepVGGDW

    with torch.device("meta"):
        model = YOLOv10(scale, nc)
    folded = {f"{p}.conv1" for p, m in model.named_modules() if isinstance(m, RepVGGDW)}
    counts: dict[str, int] = defaultdict(int)
    stack: list[list[str]] = [[]]
    made: dict[int, str] = {}  # id of an output tensor → the call that made it
    keep: list = []
    calls: dict[str, Call] = {}
    convs = []
    attrs = {}

    def pre(module, inputs, path):
        stack.append([])
        flat = inputs[0] if isinstance(inputs[0], (list, tuple)) else [inputs[0]]
        stack[-1].append([made.get(id(t), "input") for t in flat])  # first entry: the sources

    def post(module, inputs, output, path):
        frame = stack.pop()
        sources, children = frame[0], frame[1:]
        n = counts[path]
        counts[path] += 1
        key = path if n == 0 else f"{path}#{n}"
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        calls[key] = Call(key, path, type(module).__name__, shape, children, sources)
        stack[-1].append(key)
        if isinstance(output, torch.Tensor):
            made[id(output)] = key
            keep.append(output)
        if isinstance(module, nn.Conv2d) and not any(path.startswith(f + ".") or path == f for f in folded):
            k, s = module.kernel_size[0], module.stride[0]
            convs.append((path, (module.out_channels, module.in_channels, k, s, module.groups)))

    for path, module in model.named_modules():
        if path.startswith("model.") and not isinstance(module, nn.ModuleList):
            attrs[path] = {"add": bool(getattr(module, "add", False))}
            module.register_forward_pre_hook(functools.partial(lambda m, i, path: pre(m, i, path), path=path))
            module.register_forward_hook(functools.partial(lambda m, i, o, path: post(m, i, o, path), path=path))
    with torch.no_grad():
        model.decoded(torch.zeros(1, 3, imgsz, width or imgsz, device="meta"))
    return Traced(calls, convs, attrs)


# --- the mapping --------------------------------------------------------------------------------------------------


@dataclass
class NcnnMap:
    param: NcnnParam
    blobs: dict[str, str]  # dump key → blob, execution order
    types: dict[str, str]  # dump key → module class name
    shapes: dict[str, tuple[int, ...]]  # dump key → the traced module's output shape (batch 1)
    layers: dict[str, str]  # dump key → the ncnn layer that writes the blob (its name)
    conv_layers: dict[str, int]  # conv path → ncnn layer index
    input_blob: str
    scale: str
    nc: int
    notes: list[str] = field(default_factory=list)

    def select(self, depth: int | None, within: str | None = None) -> list[str]:
        return [key for key in [*self.blobs, DETECTIONS] if in_selection(key, depth, within)]

    def first_conv_input(self, key: str) -> str | None:
        """The blob a module reads (its first conv's input, before any Split copy), for feeding it alone."""
        path = key.split("#")[0]
        for conv_path, index in self.conv_layers.items():
            if conv_path == path or conv_path.startswith(path + "."):
                return self.param.source(self.param.layers[index].inputs[0])
        return None


def scale_of(param: NcnnParam) -> tuple[str, int]:
    """The YOLOv10 scale and class count whose fused convs this file's match, read from the convs alone."""
    from yolo10port.model.scales import SCALES
    from yolo10port.weights.scales import SCALE_SIGNATURES

    layers = [param.layers[i] for i in param.convs()]
    if len(layers) < 3:
        raise InputError(param.path, "holds too few convolutions to be a YOLOv10 export")
    stem = layers[0].int(0)
    nc = layers[-2].int(0)  # the last class branch's final 1×1, just before the DFL's conv
    for scale in SCALES:
        if SCALE_SIGNATURES[scale][0] == stem and len(traced(scale, nc).convs) == len(layers):
            return scale, nc
    raise InputError(
        param.path,
        f"its {len(layers)} convolutions (stem {stem} channels) match none of the six fused YOLOv10 scales",
    )


def refuse_one_to_many(param: NcnnParam, nc: int) -> None:
    """ultralytics' ncnn export drops YOLOv10's one-to-one head: the file then holds the one-to-many head (raw boxes
    for NMS). Its convs are the one-to-many branches', so the weights would even map: refuse by what it is."""
    outputs = param.outputs
    # The one-to-one export written here ends in the decoded (4 + nc, A) tensor too, so tell them apart by the
    # metadata ultralytics writes beside it and, failing that, by the warning's cause: the exporter's end2end=False.
    folder = param.path.parent
    meta = folder / "metadata.yaml"
    if meta.is_file():
        text = meta.read_text(encoding="utf-8", errors="replace")
        ultralytics_one_to_many = any(line.strip() == "end2end: false" for line in text.splitlines())
        if ultralytics_one_to_many and not text.startswith(EXPORT_MARKER):
            raise InputError(
                folder,
                "ultralytics' ncnn export of YOLOv10 holds the one-to-many head only (its exporter drops the end2end "
                f"branch for ncnn: {len(outputs)} output of 4 + {nc} rows per anchor, made for NMS); {ONE_TO_MANY_FIX}",
            )


def map_param(param: NcnnParam, scale: str, nc: int, imgsz: int = 640, width: int | None = None) -> NcnnMap:
    """Name the blobs of `param` by module path of YOLOv10-`scale` with `nc` classes (see the module docstring)."""
    trace = traced(scale, nc, imgsz, width)
    conv_index = param.convs()
    if len(conv_index) != len(trace.convs):
        raise InputError(
            param.path,
            f"holds {len(conv_index)} convolutions, the fused YOLOv10-{scale} with {nc} classes {len(trace.convs)}: "
            "not this network's export",
        )
    conv_layers = {}
    for index, (path, (out, cin, k, stride, groups)) in zip(conv_index, trace.convs):
        layer = param.layers[index]
        got_groups = layer.int(7, 1) if layer.type == "ConvolutionDepthWise" else 1
        got_k, got_s = layer.int(1), layer.int(3, 1)
        got_in = layer.int(6) * got_groups // max(layer.int(0) * got_k * layer.int(11, got_k), 1)
        got = (layer.int(0), got_in, got_k, got_s, got_groups)
        if got != (out, cin, k, stride, groups) or layer.int(11, got_k) != got_k or layer.int(13, got_s) != got_s:
            raise InputError(
                param.path,
                f"convolution {layer.name} (out {got[0]}, in {got[1]}, kernel {got_k}, stride {got_s}, groups "
                f"{got_groups}) does not match {path} of YOLOv10-{scale} (out {out}, in {cin}, kernel {k}, stride "
                f"{stride}, groups {groups}) at the same place in execution order",
            )
        conv_layers[path] = index

    blobs: dict[str, str] = {}

    def conv_out(path: str) -> str:
        return param.layers[conv_layers[path]].outputs[0]

    def only_reader(blob: str, kinds: tuple[str, ...]) -> str | None:
        readers = [i for i in param.readers(blob) if param.layers[i].type in kinds]
        return param.layers[readers[0]].outputs[0] if len(readers) == 1 else None

    pools = iter(layer.outputs[0] for layer in param.layers if layer.type == "Pooling")
    used_concats: set[int] = set()

    def output_of(call: Call) -> str | None:
        if call.path in conv_layers:
            return conv_out(call.path)
        if call.type == "SiLU":  # a Conv's or a RepVGGDW's activation: the Swish that reads its conv
            parent = call.path.rpartition(".")[0]
            conv = conv_layers.get(f"{parent}.conv", conv_layers.get(f"{parent}.conv.conv"))
            return only_reader(param.layers[conv].outputs[0], ("Swish",)) if conv is not None else None
        if call.type == "MaxPool2d":
            return next(pools, None)
        if call.type in ("BatchNorm2d", "Identity"):
            return None  # folded into the conv / no layer at all (listed as no counterpart)
        if call.type == "Concat":
            want = [param.source(blobs[s]) for s in call.sources if s in blobs]
            for index, layer in enumerate(param.layers):
                fits = layer.type == "Concat" and [param.source(b) for b in layer.inputs] == want
                if fits and index not in used_concats:
                    used_concats.add(index)
                    return layer.outputs[0]
            return None
        if call.type == "Upsample":
            source = blobs.get(call.sources[0]) if call.sources else None
            return only_reader(param.source(source), ("Interp",)) if source else None
        if call.path == DECODED_HEAD:
            outputs = param.outputs
            return outputs[0] if len(outputs) == 1 else None
        children = [c for c in call.children if c in blobs]
        if not children:
            return None
        last = blobs[children[-1]]
        if call.type == "RepVGGDW":  # act(conv(x)) once fused: its SiLU
            return blobs.get(f"{call.path}.act")
        if call.type == "DFL":
            return only_reader(last, ("Reshape",))
        if trace.attrs.get(call.path, {}).get("add"):  # x + f(x): the add that reads the last child's output
            entry = first_input(call.path)
            for index in param.readers(last):
                layer = param.layers[index]
                if layer.type == "BinaryOp" and layer.int(0) == 0 and entry in map(param.source, layer.inputs):
                    return layer.outputs[0]
            return None
        return last

    def first_input(path: str) -> str | None:
        for conv_path, index in conv_layers.items():
            if conv_path.startswith(path + "."):
                return param.source(param.layers[index].inputs[0])
        return None

    folded = tuple(f"{call.path}.conv1" for call in trace.calls.values() if call.type == "RepVGGDW")
    types, shapes, layer_names = {}, {}, {}
    for key, call in trace.calls.items():
        if call.path.startswith(folded):
            continue  # RepVGGDW's 3×3 branch: folded into its 7×7 conv (listed as no counterpart)
        blob = output_of(call)
        if blob is None:
            continue
        blobs[key] = blob
        types[key] = call.type
        shapes[key] = call.shape
        layer_names[key] = param.layers[param.producer[blob]].name
    inputs = param.inputs
    if len(inputs) != 1:
        raise InputError(param.path, f"has {len(inputs)} inputs; a YOLOv10 export has one image input")
    missing = [f"model.{i}" for i in range(24) if f"model.{i}" not in blobs]
    if missing:
        raise InputError(
            param.path, f"no blob found for {', '.join(missing)}: the structure is not YOLOv10-{scale}'s export"
        )
    return NcnnMap(param, blobs, types, shapes, layer_names, conv_layers, inputs[0], scale, nc)
