"""An OpenVINO IR (model.xml + model.bin) read as the graph the ONNX mapper already understands; torch-free.

OpenVINO keeps the ONNX node names as its ops' friendly names when it converts an ONNX export (`convert_model`,
ultralytics' `format=openvino`), and what it splits one node into gets a suffix: `/model.0/conv/Conv` becomes a
Convolution `/model.0/conv/Conv/WithoutBiases` plus the bias Add `/model.0/conv/Conv`. NNCF names what it inserts
after the op it follows: `/model.0/act/Mul/fq_output_0` (the FakeQuantize on model.0's output),
`/model.0/conv/Conv/WithoutBiases/fq_weights_1` (a weight's). torch's exporter names every node `/scope/…/OpType_N`,
and no YOLOv10 module attribute starts with a capital, so the module scope of an op is its friendly name cut at the
first capitalised component (`onnx_node_name`); the rest is scope_keys' job, as for an ONNX graph.

The IR's ops are turned into an ONNX skeleton (node names, op types as ONNX spells them, element types and shapes;
no weights), so candidates/onnx_graph.py's mapping (a module's output is the value made in its scope and read
outside it; model.23 found from the TopK back) runs unchanged. Each value name stands for one IR output port
(`IrGraph.ports`); weights are read by running their constant subgraph once (`IrGraph.array`).

With FakeQuantize, the value a module hands on is the FakeQuantize output named after its last op: the
FakeQuantize sits in the module's scope and is what the next module reads, as the DequantizeLinear output is for a
QDQ ONNX graph (candidates/quantized.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from yolo10port.candidates.onnx_graph import FLOAT_TYPES, TOP_LEVEL, OnnxGraph, scope_keys
from yolo10port.candidates.quantized import scheme_side
from yolo10port.errors import InputError

# IR op types under the ONNX names the mapper looks for; the others keep their own (Swish, FakeQuantize, …).
AS_ONNX = {
    "Convolution": "Conv",
    "GroupConvolution": "Conv",
    "VariadicSplit": "Split",
    "Convert": "Cast",
    "BatchNormInference": "BatchNormalization",
}
FAKE_QUANTIZE = "FakeQuantize"
TORCH_MODULE = "__module."  # how OpenVINO's PyTorch frontend prefixes the module an op ran in


def torch_module_path(friendly: str) -> str | None:
    """`__module.model.0.conv/aten::_convolution/Convolution` → `model.0.conv` (OpenVINO's PyTorch frontend)."""
    if not friendly.startswith(TORCH_MODULE):
        return None
    path = friendly[len(TORCH_MODULE) :].split("/")[0]
    return path if TOP_LEVEL.match(path) else None


def onnx_node_name(friendly: str) -> str:
    """The ONNX node an op came from: `/model.0/conv/Conv/WithoutBiases` → `/model.0/conv/Conv`."""
    parts = friendly.split("/")
    cut = next((i for i, part in enumerate(parts) if i > 1 and part[:1].isupper()), len(parts) - 1)
    return "/".join(parts[: cut + 1])


def read_ir(path: str | Path):
    """The IR at `path` (an .xml, its .bin beside it) read by OpenVINO, or exit 2 naming what is missing."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not an OpenVINO IR (.xml)")
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise InputError(path, f"an OpenVINO IR needs its weights beside it: {weights.name} is missing")
    with open(path, "rb") as file:
        head = file.read(4096)
    if b"<net" not in head:  # else OpenVINO tries every frontend on it, and TensorFlow's logs to stderr
        raise InputError(path, "not an OpenVINO IR (no <net> element at its start)")
    import openvino

    try:
        return openvino.Core().read_model(str(path), str(weights))
    except Exception as error:  # noqa: BLE001 - OpenVINO's parser errors: not an IR, or one that does not fit its .bin
        said = [line.strip() for line in str(error).splitlines()]
        lines = [line for line in said if line and not line.startswith(("Exception", "Check"))]
        reason = lines[-1][:160] if lines else type(error).__name__
        raise InputError(path, f"OpenVINO cannot read it as an IR with {weights.name} ({reason})") from None


def _elem(port) -> int:
    try:
        return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(port.get_element_type().to_dtype()))
    except (TypeError, ValueError, KeyError):
        return onnx.TensorProto.UNDEFINED


def _dims(port) -> list:
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return None
    return [dim.get_length() if dim.is_static else "?" for dim in shape]


class IrGraph(OnnxGraph):
    """An IR as an OnnxGraph skeleton: the mapper's indexes, with each value name standing for an IR port."""

    def __init__(self, model, path: str | Path):
        self.ov_model = model
        self.ports: dict[str, object] = {}  # value name → the IR output port it stands for
        self.where: dict[str, tuple[int, int]] = {}  # value name → (op index in get_ordered_ops, output index)
        self.op_type_of: dict[str, str] = {}  # value name → the IR op type that makes it
        self.value_of: dict[tuple[str, int], str] = {}  # (op's unique name, output index) → value name
        super().__init__(self._skeleton(model), path)
        self.keys_of = [scope_keys(onnx_node_name(node.name)) for node in self.nodes]
        self.from_torch = any(node.name.startswith(TORCH_MODULE) for node in self.nodes)
        if self.from_torch:
            self.keys_of = self._torch_scopes()

    def _torch_scopes(self) -> list[list[str]]:
        """Keys of an IR converted from a TorchScript trace (ultralytics' `format=openvino`): `__module.<path>/…`
        names the module by its full path, so its keys are the path's prefixes from `model.N` on. Two fixes:
        ultralytics' Conv shares one SiLU (`Conv.default_act`), which the trace names after the last module holding
        it (`model.22.m.0.cv1.4.act` for every SiLU): an act reading `Y.conv` (or its FakeQuantize, reading `Y.act`)
        is `Y.act`; and a module called again
        (SPPF's pool) gives several ops of one type under one path: the i-th is call i (`model.9.m#1`), as
        torch.onnx's `m_1` scope says it. Unnamed shape arithmetic belongs to the module that reads it."""
        paths = [torch_module_path(node.name) for node in self.nodes]
        for i, node in enumerate(self.nodes):
            if paths[i] and paths[i].endswith(".act"):
                source = next((self.producer.get(v) for v in node.input if v in self.dynamic), None)
                read = paths[source] if source is not None else None
                owner = read.rpartition(".")[0] if read and read.endswith((".conv", ".act")) else None
                if owner and f"{owner}.act" != paths[i]:  # an act's own FakeQuantize (NNCF) reads the act
                    paths[i] = f"{owner}.act"
        by_path: dict[str, list[int]] = {}
        for i, path in enumerate(paths):
            if path and self.nodes[i].op_type != "Constant":
                by_path.setdefault(path, []).append(i)
        calls = {}
        for indexes in by_path.values():
            if len(indexes) > 1 and len({self.nodes[i].op_type for i in indexes}) == 1:
                calls.update({i: call for call, i in enumerate(indexes)})
        keys = []
        for i, path in enumerate(paths):
            atoms = path.split(".") if path else []
            prefixes = [".".join(atoms[:n]) for n in range(2, len(atoms) + 1)]
            if prefixes and calls.get(i):
                prefixes[-1] += f"#{calls[i]}"
            keys.append(prefixes)
        # Shape arithmetic the frontend leaves unnamed (ShapeOf → Convert → … feeding the head's anchors): the
        # reading module's, so that module runs alone from its recorded inputs.
        for i in reversed(range(len(self.nodes))):
            node = self.nodes[i]
            if keys[i] or node.op_type == "Constant" or any(self.elem_type(v) in FLOAT_TYPES for v in node.output):
                continue
            readers = [c for v in node.output for c in self.consumers.get(v, []) if keys[c]]
            keys[i] = list(keys[readers[0]]) if readers else []
        return keys

    def _skeleton(self, model) -> onnx.ModelProto:
        nodes, inputs, outputs, infos = [], [], [], []
        for index, op in enumerate(model.get_ordered_ops()):
            kind, friendly = op.get_type_name(), op.get_friendly_name()
            reads = [self.value_of.get((src.get_node().get_name(), src.get_index()), "") for src in op.input_values()]
            if kind == "Result":
                outputs.append(onnx.helper.make_tensor_value_info(reads[0], _elem(op.input(0)), _dims(op.input(0))))
                continue
            made = []
            for port in op.outputs():
                tensor = sorted(port.get_names())
                name = tensor[0] if tensor else f"{friendly}:{port.get_index()}"
                while name in self.ports:  # friendly names need not be unique
                    name += "'"
                self.value_of[(op.get_name(), port.get_index())] = name
                self.ports[name], self.where[name], self.op_type_of[name] = port, (index, port.get_index()), kind
                info = onnx.helper.make_tensor_value_info(name, _elem(port), _dims(port))
                (inputs if kind == "Parameter" else infos).append(info)
                made.append(name)
            if kind != "Parameter":
                nodes.append(onnx.helper.make_node(AS_ONNX.get(kind, kind), reads, made, name=friendly))
        graph = onnx.helper.make_graph(nodes, "openvino-ir", inputs, outputs, value_info=infos)
        return onnx.helper.make_model(graph)

    def _infer(self) -> dict[str, onnx.TypeProto]:
        graph = self.model.graph  # OpenVINO's own types and shapes: ONNX inference knows none of its ops
        return {value.name: value.type for value in [*graph.input, *graph.value_info, *graph.output]}

    def value_bytes(self, input_shape: tuple[int, ...]) -> dict[str, int]:
        sizes = {}
        for name, port in self.ports.items():
            dims = _dims(port)
            if dims and all(isinstance(d, int) for d in dims):
                sizes[name] = int(np.prod(dims)) * np.dtype(port.get_element_type().to_dtype()).itemsize
        return sizes

    def array(self, value: str) -> np.ndarray | None:
        """A constant value (a weight after its decompression: int8 × scale, float16 → float32, or through its
        FakeQuantize), computed by OpenVINO itself from a copy of the model; None for a computed value."""
        port = self.ports.get(value)
        if port is None or value in self.dynamic:
            return None
        if port.get_node().get_type_name() == "Constant":
            return np.array(port.get_node().get_data())
        import openvino

        copy = self.ov_model.clone()  # a Result on the model itself would stay attached to it
        op_index, out_index = self.where[value]
        result = openvino.Model([copy.get_ordered_ops()[op_index].output(out_index)], [], "constant")
        compiled = openvino.Core().compile_model(result, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return np.array(compiled({})[0])

    def weight_source(self, value: str) -> str:
        """The element type of the constant a weight value is computed from: f16 (compressed), i8 (NNCF), f32."""
        port = self.ports.get(value)
        while port is not None and port.get_node().get_type_name() != "Constant":
            node = port.get_node()
            if node.get_input_size() == 0:
                return ""
            port = node.input_value(0)
        return port.get_element_type().get_type_name() if port is not None else ""

    def ports_in(self, copy) -> dict[str, object]:
        """The same value names on a copy of the model (`ov_model.clone()`): by position in the op order."""
        ops = copy.get_ordered_ops()
        return {name: ops[i].output(j) for name, (i, j) in self.where.items()}


def fake_quantizes(graph: IrGraph) -> list:
    return [op for op in graph.ov_model.get_ordered_ops() if op.get_type_name() == FAKE_QUANTIZE]


def _constant(port) -> np.ndarray | None:
    node = port.get_node()
    return np.array(node.get_data()) if node.get_type_name() == "Constant" else None


def _symmetry(low: np.ndarray | None, high: np.ndarray | None, levels: int) -> str:
    """Symmetric when zero is a grid point at the range's middle (signed: low = -high · (levels/2)/(levels/2 - 1))
    or its bottom (unsigned: low = 0), as NNCF's symmetric quantizers set them."""
    if low is None or high is None:
        return "asymmetric"
    half = levels // 2
    signed = np.allclose(low, -high * half / max(half - 1, 1), rtol=1e-3, atol=1e-12)
    return "symmetric" if signed or np.all(low == 0) else "asymmetric"


def ir_scheme(graph: IrGraph) -> dict:
    """The dump's `quantization` metadata for an IR, as far as its ops say: FakeQuantize levels, the activations'
    granularity and signedness (output_low < 0: int8), and the weights' (a FakeQuantize on a constant, or NNCF's
    int8 constant × scale: per-channel when the scale has one value per output channel)."""
    activations, weights, levels = [], [], set()
    for op in fake_quantizes(graph):
        levels.add(int(op.get_levels()))
        source = op.input_value(0)
        dynamic = graph.value_of.get((source.get_node().get_name(), source.get_index())) in graph.dynamic
        (activations if dynamic else weights).append(op)
    a_gran, a_types, a_sym = set(), set(), set()
    for op in activations:
        low, high = _constant(op.input_value(3)), _constant(op.input_value(4))
        a_gran.add("per-tensor" if low is None or low.size == 1 else "per-channel")
        a_types.add("int8" if low is not None and float(np.min(low)) < 0 else "uint8")
        a_sym.add(_symmetry(low, high, int(op.get_levels())))
    w_gran, w_types, w_sym, w_count = set(), set(), set(), 0
    for op in graph.ov_model.get_ordered_ops():
        if AS_ONNX.get(op.get_type_name()) != "Conv" and op.get_type_name() != "MatMul":
            continue
        weight = op.input_value(1)
        if graph.value_of.get((weight.get_node().get_name(), weight.get_index())) in graph.dynamic:
            continue  # attention's q·k: an activation, counted above
        source = weight.get_node()
        if source.get_type_name() == FAKE_QUANTIZE:
            low = _constant(source.input_value(3))
            w_gran.add("per-tensor" if low is None or low.size == 1 else "per-channel")
            w_types.add(f"{int(source.get_levels())} levels")
            w_sym.add(_symmetry(low, _constant(source.input_value(4)), int(source.get_levels())))
            w_count += 1
        elif source.get_type_name() == "Multiply":  # NNCF's compressed weight: Convert(int8 constant) × scale
            scale = next((c for c in map(_constant, source.input_values()) if c is not None), None)
            shifted = source.input_value(0).get_node()  # Convert(q), or Subtract(Convert(q), zero point)
            w_sym.add("asymmetric" if shifted.get_type_name() == "Subtract" else "symmetric")
            while shifted.get_input_size() and shifted.get_type_name() != "Constant":
                shifted = shifted.input_value(0).get_node()
            int8 = shifted.get_output_element_type(0).get_type_name()
            w_gran.add("per-tensor" if scale is None or scale.size == 1 else "per-channel")
            w_types.add({"i8": "int8", "u8": "uint8"}.get(int8, int8))
            w_count += 1
    named = [op.get_friendly_name() for op in activations + weights]
    nncf = graph.ov_model.has_rt_info("nncf") or any("/fq_output_" in name or "/fq_weights_" in name for name in named)
    tool = "nncf" if nncf else "unknown"  # NNCF records itself in the IR's rt_info and names its FakeQuantize ops
    return {
        "format": "FakeQuantize (OpenVINO IR)",
        "tool": tool,
        "levels": sorted(levels),
        "weights": scheme_side(w_gran, w_sym, w_types, w_count),
        "activations": scheme_side(a_gran, a_sym, a_types, len(activations)),
        "other_constants": 0,
        "float_nodes": [],
    }


def ir_scheme_json(graph: IrGraph) -> str:
    return json.dumps(ir_scheme(graph), sort_keys=True)
