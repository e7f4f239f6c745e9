"""Read a YOLOv10 ONNX graph and name its values by ultralytics module path; torch-free (onnx and numpy only).

torch.onnx (the TorchScript exporter ultralytics' exporter drives) names every node after the modules it ran in:
`/model.10/attn/qkv/conv/Conv` ran in `model.10` → `attn` → `qkv` → `conv`. Each scope component is the module's
qualified name from its last non-numeric atom on (`one2one_cv3.0.0` inside `one2one_cv3.0`, `ffn.0` inside `ffn`),
and a module called again gets `_1`, `_2` (`/model.9/m_1/MaxPool`: SPPF's second pool, dump key `model.9.m#1`).

A module's output is found by structure, not by file order (onnxslim reorders nodes): the value produced inside
the module's scope and consumed outside it, or a graph output. `model.23`, the decoded one-to-one prediction before
top-k, is the tensor the top-k reads through its Transpose/Split/ReduceMax chain, found from the TopK back, so it
does not depend on a name nor on the class activation being a Sigmoid.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from yolo10port.candidates.quantized import DEQUANTIZE, QUANTIZE, constant_dequantized
from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, INPUT, in_selection
from yolo10port.errors import InputError

TOP_LEVEL = re.compile(r"model\.\d+")
REPEATED_CALL = re.compile(r"^(.+)_(\d+)$")  # `m_1`: the second call of module `m` (no YOLOv10 attribute ends so)
SHAPE_READERS = {"Shape", "Size"}  # they read a tensor's shape, not its values: not a use of the module's output
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
# Between the decoded (B, 4 + nc, anchors) tensor and the top-k: what ultralytics' end-to-end postprocess puts there.
# A quantized graph adds its Q/DQ pairs along the way (candidates/quantized.py).
TOP_K_FEEDERS = {"ReduceMax", "Split", "Slice", "Squeeze", "Unsqueeze", "Reshape", "Flatten", "Cast", "Identity"}
TOP_K_FEEDERS |= {QUANTIZE, DEQUANTIZE, "FakeQuantize"}  # FakeQuantize: an OpenVINO IR's (candidates/ir_graph.py)
IMAGE_QUANTIZERS = (QUANTIZE, DEQUANTIZE, "FakeQuantize")
EXPORTS = "yolo export model=M.pt format=onnx nms=False, or yolo10port onnx M.pt"
FIX_EXPORT = f"export it again with nms=False ({EXPORTS})"


def _split_call(component: str) -> tuple[str, int]:
    match = REPEATED_CALL.match(component)
    return (match.group(1), int(match.group(2))) if match else (component, 0)


def _join_scope(parent: str, component: str) -> str:
    """The qualified module path of scope `component` inside module `parent` (see the module docstring)."""
    if not parent:
        return component
    atoms = parent.split(".")
    last_name = max(i for i, atom in enumerate(atoms) if not atom.isdigit())
    tail = ".".join(atoms[last_name:])
    rest = component[len(tail) + 1 :].split(".") if component.startswith(tail + ".") else None
    if rest is not None and all(atom.isdigit() for atom in rest):  # `one2one_cv3.0.0` inside `one2one_cv3.0`
        return ".".join(atoms[:last_name] + [component])
    return f"{parent}.{component}"


def scope_keys(node_name: str) -> list[str]:
    """The dump keys of the modules a node ran in, outermost first: `/model.9/m_1/MaxPool` → [`model.9`,
    `model.9.m#1`]; [] for a node whose name carries no module path."""
    if not node_name.startswith("/"):
        return []
    parts = node_name.split("/")[1:-1]  # drop the leading "" and the op's own name
    if not parts or not TOP_LEVEL.fullmatch(parts[0]):
        return []
    keys, path, call = [], "", 0
    for part in parts:
        name, index = _split_call(part)
        path = _join_scope(path, name)
        call = index or call  # a module inside a repeated call belongs to that call
        keys.append(f"{path}#{call}" if call else path)
    return keys


def module_depth(key: str) -> int:
    """`model.10` → 1, `model.10.attn` → 2 (as the reference's hooks count), `#call` ignored."""
    return key.split("#")[0].count(".")


def _topological(nodes: Iterable[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    """Nodes in an order where every input is produced first; file order where that already holds."""
    nodes = list(nodes)
    produced_by = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    waiting = [0] * len(nodes)
    users: dict[int, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        for name in set(node.input):
            if name and name not in available and name in produced_by:
                waiting[i] += 1
                users[produced_by[name]].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    return order if len(order) == len(nodes) else nodes  # a cycle is the runtime's to report


class OnnxGraph:
    """An ONNX model with the indexes the mapping needs: producers, consumers, dynamic values, element types."""

    def __init__(self, model: onnx.ModelProto, path: str | Path = "graph.onnx"):
        self.path = Path(path)
        self.model = model
        graph = model.graph
        self.initializers = {tensor.name: tensor for tensor in graph.initializer}
        self.inputs = [value.name for value in graph.input if value.name not in self.initializers]
        self.outputs = [value.name for value in graph.output]
        self.nodes = _topological(graph.node, set(self.initializers) | set(self.inputs))
        self.producer: dict[str, int] = {out: i for i, node in enumerate(self.nodes) for out in node.output if out}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for i, node in enumerate(self.nodes):
            for name in node.input:
                if name:
                    self.consumers[name].append(i)
        self.dynamic = set(self.inputs)  # values that depend on the graph input (not constants)
        for node in self.nodes:
            if any(name in self.dynamic for name in node.input):
                self.dynamic.update(out for out in node.output if out)
        self.keys_of = [scope_keys(node.name) for node in self.nodes]
        self.value_info = self._infer()

    def _infer(self) -> dict[str, onnx.TypeProto]:
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model)
        except Exception:  # noqa: BLE001 - a graph shape inference cannot follow still runs; types stay unknown
            inferred = self.model
        graph = inferred.graph
        return {value.name: value.type for value in [*graph.input, *graph.value_info, *graph.output]}

    def elem_type(self, value: str) -> int:
        if value in self.initializers:
            return self.initializers[value].data_type
        kind = self.value_info.get(value)
        return kind.tensor_type.elem_type if kind is not None else onnx.TensorProto.UNDEFINED

    def shape(self, value: str) -> tuple[int | str | None, ...] | None:
        kind = self.value_info.get(value)
        if kind is None or not kind.tensor_type.HasField("shape"):
            return None
        return tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in kind.tensor_type.shape.dim
        )

    def array(self, value: str) -> np.ndarray | None:
        """A constant's data: an initializer, a Constant node's value, or the DequantizeLinear of constants (a
        quantized weight, dequantized as the runtime does); None for a computed value."""
        if value in self.initializers:
            return numpy_helper.to_array(self.initializers[value])
        i = self.producer.get(value)
        if i is not None and self.nodes[i].op_type == "Constant":
            for attribute in self.nodes[i].attribute:
                if attribute.name == "value":
                    return numpy_helper.to_array(attribute.t)
        if i is not None and self.nodes[i].op_type == DEQUANTIZE and value not in self.dynamic:
            return constant_dequantized(self, self.nodes[i])
        return None

    def value_bytes(self, input_shape: tuple[int, ...]) -> dict[str, int]:
        """Each value's size in bytes when the input has `input_shape` (a dynamic graph's dims made concrete)."""
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        for value in model.graph.input:
            if value.name == self.inputs[0]:
                for dim, size in zip(value.type.tensor_type.shape.dim, input_shape):
                    dim.Clear()
                    dim.dim_value = size
        try:
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
        except Exception:  # noqa: BLE001 - sizes are an estimate: unknown ones fall back to the largest known
            return {}
        sizes = {}
        for value in [*inferred.value_info, *inferred.output]:
            dims = [d.dim_value if d.HasField("dim_value") else 0 for d in value.type.tensor_type.shape.dim]
            if dims and all(dims):
                itemsize = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).itemsize
                sizes[value.name] = int(np.prod(dims)) * itemsize
        return sizes

    def node_of(self, value: str) -> onnx.NodeProto | None:
        i = self.producer.get(value)
        return self.nodes[i] if i is not None else None


def load_graph(path: str | Path) -> OnnxGraph:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not an ONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError and friends: not an ONNX file
        raise InputError(path, f"not an ONNX model ({type(error).__name__})") from None
    if not model.graph.node:
        raise InputError(path, "ONNX file holds no graph nodes")
    check_graph_declarations(path, model)
    return OnnxGraph(model, path)


# Operator domains the runtimes here implement: the standard set, and ONNX Runtime's contrib ops (what its own
# optimizer writes). Anything else is a custom op no runtime here has a kernel for.
KNOWN_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")


def check_graph_declarations(path: Path, model: onnx.ModelProto) -> None:
    """What the file declares, checked before a runtime is given it: every operator from a known domain, and every
    initializer's data as long as its dims say (a runtime would otherwise fail, or read past the data, inside)."""
    for node in model.graph.node:
        if node.domain not in KNOWN_DOMAINS:
            raise InputError(
                path,
                f"node {node.name or node.op_type!r} is the custom operator {node.domain}.{node.op_type}, which "
                "neither ONNX Runtime nor OpenVINO implements here (standard ONNX operators only)",
            )
    for tensor in model.graph.initializer:
        if any(dim < 0 for dim in tensor.dims):
            raise InputError(path, f"initializer {tensor.name!r} has negative dims {list(tensor.dims)}")
        count = 1
        for dim in tensor.dims:
            count *= dim
        held = _initializer_elements(tensor)
        if held is not None and held != count:
            raise InputError(
                path,
                f"initializer {tensor.name!r} has dims {list(tensor.dims)} ({count:,} elements) but holds {held:,}",
            )


def _initializer_elements(tensor: onnx.TensorProto) -> int | None:
    """How many elements an initializer's data holds; None where it cannot be told (strings, external data)."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.data_type == onnx.TensorProto.STRING:
        return None
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return None
    if tensor.HasField("raw_data"):
        return len(tensor.raw_data) // itemsize if len(tensor.raw_data) % itemsize == 0 else -1
    for field_name in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        values = getattr(tensor, field_name)
        if len(values):
            if tensor.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128):
                return len(values) // 2
            return len(values)
    return 0


@dataclass
class GraphMap:
    """Which ONNX value answers which dump key, for one YOLOv10 graph."""

    graph: OnnxGraph
    values: dict[str, str]  # dump key → value name, every depth, in execution order
    nodes: dict[str, str]  # dump key → name of the node that produces it
    op_types: dict[str, str]  # dump key → that node's op type
    nc: int
    stem_channels: int | None  # model.0's conv output channels and model.2's bottleneck count tell the scale
    c2f_blocks: int
    batchnorms: int  # BatchNormalization nodes left in the graph (0: every BatchNorm folded into its conv)
    notes: list[str] = field(default_factory=list)

    @property
    def input_name(self) -> str:
        return self.graph.inputs[0]

    @property
    def input_shape(self) -> tuple[int | str | None, ...]:
        return self.graph.shape(self.input_name) or (None, 3, None, None)

    @property
    def static(self) -> bool:
        return all(isinstance(dim, int) and dim > 0 for dim in self.input_shape)

    def layer_outputs(self) -> dict[str, str]:
        """Value name → `model.K` (K ≤ 22) or `input`: what a layer's subgraph may be fed from a reference dump."""
        outputs = {self.input_name: INPUT}
        for key, value in self.values.items():
            if module_depth(key) == 1 and key != DECODED_HEAD and key != DETECTIONS:
                outputs.setdefault(value, key)
        return outputs

    def select(self, depth: int | None, within: str | None = None) -> list[str]:
        """The keys a dump at `depth` (None = every module) holds, inside `within` when given, execution order."""
        return [key for key in self.values if in_selection(key, depth, within)]


def refuse_unsupported(graph: OnnxGraph) -> None:
    """Exit 2, naming the cause and the fix, for graphs that are not YOLOv10's one-to-one export."""
    path = graph.path
    if any(node.op_type == "NonMaxSuppression" or node.name.startswith("/model/model.") for node in graph.nodes):
        raise InputError(
            path,
            "this is ultralytics' NMS export (nms=True: boxes from a NonMaxSuppression node behind the one-to-many "
            f"head), not YOLOv10's NMS-free one-to-one head; {FIX_EXPORT}",
        )
    if not any(graph.keys_of):
        raise InputError(
            path,
            "its node names carry no module paths (renamed, e.g. by an optimizer or converter), so no value can be "
            "mapped to a layer; run the file ultralytics' exporter wrote (nodes named /model.N/…), or export one "
            f"({EXPORTS})",
        )
    if any(key.startswith(("model.23.cv2.", "model.23.cv3.")) for keys in graph.keys_of for key in keys):
        shapes = ", ".join("×".join(map(str, graph.shape(name) or ("?",))) for name in graph.outputs)
        raise InputError(
            path,
            f"it holds YOLOv10's one-to-many head (output {shapes}: raw predictions meant for NMS), i.e. it was "
            f"exported without nms=False; {FIX_EXPORT}",
        )


def _module_values(graph: OnnxGraph) -> dict[str, tuple[int, str]]:
    """Dump key → (node index, value) of every module's output: the float value computed inside its scope (from
    the graph input, not constants) that a node outside the scope reads, or that leaves the graph; if several, the
    last to run. Shape reads (`Shape` of a feature map in a dynamic graph) are not uses of a value."""
    scopes = [set(keys) for keys in graph.keys_of]
    found: dict[str, tuple[int, str]] = {}
    for i, node in enumerate(graph.nodes):
        for value in node.output if graph.keys_of[i] else ():
            if not value or value not in graph.dynamic or graph.elem_type(value) not in FLOAT_TYPES:
                continue
            users = [c for c in graph.consumers.get(value, []) if graph.nodes[c].op_type not in SHAPE_READERS]
            leaves_graph = value in graph.outputs
            for key in graph.keys_of[i]:
                leaves_scope = leaves_graph or any(key not in scopes[c] for c in users)
                if leaves_scope and (key not in found or found[key][0] < i):  # several: the last to run
                    found[key] = (i, value)
    return found


def find_decoded(graph: OnnxGraph) -> str:
    """The decoded (B, 4 + nc, anchors) tensor: what the first TopK reads, back through the transpose to
    (B, anchors, 4 + nc) and the class split/max that ultralytics' end-to-end postprocess puts before it."""
    for node in graph.nodes:
        if node.op_type != "TopK":
            continue
        value = node.input[0]
        for _ in range(3 * len(TOP_K_FEEDERS)):
            producer = graph.node_of(value)
            if producer is None:
                break
            if producer.op_type == "Transpose":
                shape = graph.shape(producer.input[0])
                if shape is None or len(shape) == 3:
                    return producer.input[0]
                break
            if producer.op_type not in TOP_K_FEEDERS:
                break
            value = producer.input[0]
        break  # only the first top-k (over anchors) leads to the decoded head
    raise InputError(
        graph.path,
        "found no decoded one-to-one head before a top-k (TopK ← ReduceMax ← Transpose of a (B, 4+nc, anchors) "
        f"tensor); is it a YOLOv10 detection graph? {FIX_EXPORT}",
    )


def conv_weight(graph: OnnxGraph, key: str) -> np.ndarray | None:
    """The weight of the Conv node whose innermost scope is `key` (e.g. `model.0.conv`), whatever its name."""
    for i, node in enumerate(graph.nodes):
        if node.op_type == "Conv" and graph.keys_of[i] and graph.keys_of[i][-1] == key and len(node.input) > 1:
            return graph.array(node.input[1])
    return None


def map_graph(graph: OnnxGraph) -> GraphMap:
    """Every module's output value, the decoded head and the detections, or an InputError saying why not."""
    refuse_unsupported(graph)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise InputError(
            graph.path,
            f"has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; a YOLOv10 one-to-one export has one "
            f"image input and one (B, max_det, 6) output; {FIX_EXPORT}",
        )
    found = _module_values(graph)
    found.pop(DECODED_HEAD, None)  # the head's scope output is the detections; model.23 is the decoded tensor
    decoded = find_decoded(graph)
    found[DECODED_HEAD] = (graph.producer[decoded], decoded)
    found[DETECTIONS] = (graph.producer.get(graph.outputs[0], len(graph.nodes)), graph.outputs[0])
    # Execution order; a module and its last child end on the same node: the child returns first, as hooks see it.
    order = sorted(found, key=lambda key: (found[key][0], key == DETECTIONS, -module_depth(key)))
    values = {key: found[key][1] for key in order}
    nodes = {key: graph.nodes[i].name if i < len(graph.nodes) else "" for key, (i, _) in found.items()}
    op_types = {key: graph.nodes[i].op_type if i < len(graph.nodes) else "" for key, (i, _) in found.items()}
    class_conv = conv_weight(graph, "model.23.one2one_cv3.0.2")
    decoded_shape = graph.shape(decoded)
    if class_conv is not None:
        nc = int(class_conv.shape[0])
    elif decoded_shape and isinstance(decoded_shape[1], int):
        nc = decoded_shape[1] - 4
    else:
        raise InputError(graph.path, "cannot tell the number of classes (no model.23.one2one_cv3.0.2 conv weight)")
    stem = conv_weight(graph, "model.0.conv")
    blocks = {key.split("#")[0] for keys in graph.keys_of for key in keys if re.fullmatch(r"model\.2\.m\.\d+", key)}
    gmap = GraphMap(
        graph=graph,
        values=values,
        nodes=nodes,
        op_types=op_types,
        nc=nc,
        stem_channels=int(stem.shape[0]) if stem is not None else None,
        c2f_blocks=len(blocks),
        batchnorms=sum(node.op_type == "BatchNormalization" for node in graph.nodes),
    )
    missing = [f"model.{i}" for i in range(23) if f"model.{i}" not in values]
    if missing:
        gmap.notes.append(
            f"no node of the graph is named after {', '.join(missing)} (renamed or optimized away): not dumped"
        )
    return gmap


# --- building runnable graphs ------------------------------------------------------------------------------------


def _value_info(graph: OnnxGraph, name: str) -> onnx.ValueInfoProto:
    elem = graph.elem_type(name)
    return onnx.helper.make_tensor_value_info(name, elem or onnx.TensorProto.FLOAT, None)


def with_outputs(graph: OnnxGraph, values: list[str]) -> onnx.ModelProto:
    """A copy of the model whose outputs are `values` (intermediate ones included), typed from shape inference."""
    model = onnx.ModelProto()
    model.CopyFrom(graph.model)
    del model.graph.output[:]
    model.graph.output.extend(_value_info(graph, name) for name in values)
    return model


@dataclass
class Subgraph:
    """The nodes that compute one module's output from values computed outside it: run alone on recorded inputs."""

    nodes: list[onnx.NodeProto]  # in execution order
    inputs: list[str]  # the outside values it reads (graph input, other modules' outputs)
    output: str
    initializers: list[str]


def extract(graph: OnnxGraph, output: str, key: str) -> Subgraph:
    """The module `key`'s own nodes (those in its scope, plus the constants they read), walking back from `output`
    until values made outside the scope: those become the subgraph's inputs."""
    inside = {i for i, keys in enumerate(graph.keys_of) if key in keys}
    needed: set[int] = set()
    inputs: list[str] = []
    initializers: list[str] = []
    stack, seen = [output], set()
    while stack:
        value = stack.pop()
        if not value or value in seen:
            continue
        seen.add(value)
        if value in graph.initializers:
            initializers.append(value)
            continue
        i = graph.producer.get(value)
        # An unscoped Q/DQ (the image's own pair, or an IR's `images/fq_output_0`) is the reading module's: run it
        # with the module.
        unscoped_qdq = i is not None and not graph.keys_of[i] and graph.nodes[i].op_type in IMAGE_QUANTIZERS
        if i is None or (i not in inside and value in graph.dynamic and not unscoped_qdq):
            inputs.append(value)  # the graph input, or a value another module computed
            continue
        needed.add(i)
        stack.extend(graph.nodes[i].input)
    return Subgraph([graph.nodes[i] for i in sorted(needed)], inputs, output, initializers)


def tagged(part: int, name: str) -> str:
    """A value's name inside part `part` of a side-by-side model (see `side_by_side`)."""
    return f"{part}|{name}"


def side_by_side(graph: OnnxGraph, parts: list[tuple[Subgraph, dict[str, tuple[int, ...]]]]) -> onnx.ModelProto:
    """One model that runs several subgraphs independently, so a runtime builds one session for all of them: part
    i's values are renamed `tagged(i, name)` (initializers, being constants, are shared). Each part comes with the
    shapes of what its inputs will be fed (OpenVINO's ONNX frontend needs at least their rank)."""
    nodes, inputs, outputs, initializers = [], [], [], {}
    for i, (sub, shapes) in enumerate(parts):

        def rename(name: str, i: int = i) -> str:
            return name if not name or name in graph.initializers else tagged(i, name)

        for node in sub.nodes:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = tagged(i, node.name)
            del copy.input[:], copy.output[:]
            copy.input.extend(rename(name) for name in node.input)
            copy.output.extend(rename(name) for name in node.output)
            nodes.append(copy)
        for name in sub.inputs:
            elem = graph.elem_type(name) or onnx.TensorProto.FLOAT
            inputs.append(onnx.helper.make_tensor_value_info(tagged(i, name), elem, shapes.get(name)))
        elem = graph.elem_type(sub.output) or onnx.TensorProto.FLOAT
        outputs.append(onnx.helper.make_tensor_value_info(tagged(i, sub.output), elem, None))
        initializers.update({name: graph.initializers[name] for name in sub.initializers})
    body = onnx.helper.make_graph(nodes, "isolated", inputs, outputs, list(initializers.values()))
    model = onnx.helper.make_model(body, opset_imports=list(graph.model.opset_import))
    model.ir_version = graph.model.ir_version
    return model
