"""Quantized (QDQ) ONNX graphs: what Q/DQ nodes mean for mapping, weights and the dump's metadata; torch-free.

ONNX Runtime's `quantize_static` (and NNCF's ONNX backend) write a quantized model as float ops wrapped in
QuantizeLinear → DequantizeLinear pairs: an activation is quantized after the op that makes it (the pair named after
that tensor, so it sits in the producing module's scope), and a weight is stored as an int8 initializer read through
a DequantizeLinear (per output channel: `axis` 0 of a conv weight, one scale and zero point per channel). So:
- the value a module hands on is the float DequantizeLinear output after its own QuantizeLinear, not the op's raw
  output; the mapping picks it because it is the float value that leaves the module's scope;
- a weight's data is the DequantizeLinear of its int8 initializer: (q - zero_point) · scale along `axis`;
- Q/DQ nodes outside every module's scope (the image's own pair: `images_QuantizeLinear`) belong to the module that
  reads them, so isolated runs include them.
"""

from __future__ import annotations

import json

import numpy as np
import onnx

QUANTIZE, DEQUANTIZE = "QuantizeLinear", "DequantizeLinear"
QDQ_OPS = {QUANTIZE, DEQUANTIZE, "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
QDQ_OPS |= {"DynamicQuantizeLinear"}
ELEM_NAMES = {
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT4: "int4",
    onnx.TensorProto.UINT4: "uint4",
}
# Ops whose result is not a quantization of the activation at all: the decode's arithmetic. A graph that leaves
# these in float is a `--keep-float head` port; listed so the metadata names what stayed float.
WEIGHTED_OPS = {"Conv", "MatMul", "Gemm", "ConvTranspose"}


def is_quantized(nodes: list[onnx.NodeProto]) -> bool:
    """Whether a graph holds quantize/dequantize ops: an integer (INT8 or lower) port, not a float one."""
    return any(node.op_type in QDQ_OPS for node in nodes)


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear: (q - zero_point) · scale, a 1-D scale/zero point broadcast along `axis`."""
    q = q.astype(np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    zero = np.zeros_like(scale) if zero_point is None else np.asarray(zero_point, dtype=np.float64)
    if scale.ndim == 1 and q.ndim > 0:
        shape = [1] * q.ndim
        shape[axis % q.ndim] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q - zero) * scale).astype(np.float32)


def _axis(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)


def constant_dequantized(graph, node: onnx.NodeProto) -> np.ndarray | None:
    """A DequantizeLinear of constants (a quantized weight), as the float array the runtime computes; None if any
    of its inputs is computed."""
    arrays = [graph.array(name) if name else None for name in node.input]
    if arrays[0] is None or arrays[1] is None or (len(arrays) > 2 and node.input[2] and arrays[2] is None):
        return None
    return dequantize(arrays[0], arrays[1], arrays[2] if len(arrays) > 2 else None, _axis(node))


def _scheme_of(graph, nodes: list[onnx.NodeProto]) -> tuple[set[str], set[str], set[str]]:
    """(granularities, symmetries, element types) of DequantizeLinear nodes."""
    granularity, symmetry, types = set(), set(), set()
    for node in nodes:
        scale = graph.array(node.input[1])
        zero = graph.array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if scale is not None:
            granularity.add("per-channel" if np.asarray(scale).size > 1 else "per-tensor")
        elem = graph.elem_type(node.input[0])
        types.add(ELEM_NAMES.get(elem, onnx.TensorProto.DataType.Name(elem).lower() if elem else "?"))
        if zero is None or not np.asarray(zero).size:
            symmetry.add("symmetric")
        else:
            zero = np.asarray(zero)
            midpoint = 128 if zero.dtype == np.uint8 else 32768 if zero.dtype == np.uint16 else 0
            symmetry.add("symmetric" if np.all(zero == midpoint) else "asymmetric")
    return granularity, symmetry, types


def _one(symmetries: set[str]) -> str:
    """Symmetric only if every tensor is (zero point at the type's midpoint); one asymmetric makes it asymmetric."""
    return "asymmetric" if "asymmetric" in symmetries else "symmetric" if symmetries else "none"


def scheme_side(granularity: set[str], symmetry: set[str], types: set[str], tensors: int) -> dict:
    """One side (weights or activations) of the `quantization` record."""
    return {
        "granularity": "/".join(sorted(granularity)) or "none",
        "symmetry": _one(symmetry),
        "type": "/".join(sorted(types)) or "none",
        "tensors": tensors,
    }


def quantization_scheme(graph) -> dict:
    """What the dump's `quantization` metadata says: format (QDQ), weight and activation granularity, symmetry and
    element types, how many tensors are quantized, and which weighted ops (and head ops) were left in float."""
    weight_dq, activation_dq, constant_dq = [], [], []  # conv/matmul weights; activations; biases, anchors, …
    for node in graph.nodes:
        if node.op_type != DEQUANTIZE:
            continue
        if node.input[0] in graph.dynamic:
            activation_dq.append(node)
        elif any(
            graph.nodes[c].op_type in WEIGHTED_OPS and graph.nodes[c].input[1:2] == [node.output[0]]
            for c in graph.consumers.get(node.output[0], [])
        ):
            weight_dq.append(node)
        else:
            constant_dq.append(node)
    w_gran, w_sym, w_types = _scheme_of(graph, weight_dq)
    a_gran, a_sym, a_types = _scheme_of(graph, activation_dq)
    float_ops = []
    for node in graph.nodes:
        if node.op_type not in WEIGHTED_OPS and node.op_type not in {"Sigmoid", "Softmax", "Concat", "Mul", "Add"}:
            continue
        reads_dq = any(
            (p := graph.node_of(name)) is not None and p.op_type == DEQUANTIZE for name in node.input if name
        )
        if not reads_dq:
            float_ops.append(node.name or node.op_type)
    producer = graph.model.producer_name or ""
    props = {p.key: p.value for p in graph.model.metadata_props}
    tool = "onnxruntime.quantization" if props.get("onnx.infer") == "onnxruntime.quant" else producer or "unknown"
    if any("nncf" in (p.key + p.value).lower() for p in graph.model.metadata_props) or "nncf" in producer.lower():
        tool = "nncf"
    return {
        "format": "QDQ" if weight_dq or activation_dq else "QOperator",
        "tool": tool,
        "weights": scheme_side(w_gran, w_sym, w_types, len(weight_dq)),
        "activations": scheme_side(a_gran, a_sym, a_types, len(activation_dq)),
        "other_constants": len(constant_dq),  # biases (int32), anchors and other constants read through a DQ
        "float_nodes": float_ops,  # nodes of these op types whose inputs come from no DequantizeLinear
    }


def scheme_summary(scheme: dict) -> str:
    """One line: `QDQ, weights int8 per-channel symmetric, activations uint8 per-tensor asymmetric, 3 ops float`."""
    w, a = scheme["weights"], scheme["activations"]
    kept = len(scheme.get("float_nodes", []))
    return (
        f"{scheme['format']} ({scheme['tool']}), weights {w['type']} {w['granularity']} {w['symmetry']}, "
        f"activations {a['type']} {a['granularity']} {a['symmetry']}, {kept} ops left in float"
    )


def scheme_json(graph) -> str:
    return json.dumps(quantization_scheme(graph), sort_keys=True)
