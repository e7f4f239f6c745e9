#!/usr/bin/env python3
"""A foreign port's candidate producer: ONNX Runtime runs a YOLOv10 ONNX export and writes yolo10port dumps.

Written without yolo10port, with only onnxruntime, numpy and safetensors, to show that the interchange rules are
all a port needs to be judged by `yolo10port diff golden/ cand/`:
- feed the exact `input` tensor of each golden dump (never regenerate `random:0` or re-letterbox the photo);
- write one safetensors file per golden dump, with the same file name, holding float32 NCHW tensors:
  `input`, `model.0` … `model.22` (each layer's output), `model.23` (the decoded (B, 4 + nc, anchors) prediction
  before top-k: boxes xyxy in input pixels, class scores after the sigmoid) and `detections` (B, 300, 6);
- metadata: `format` = `yolo10port-dump/1` (required), `producer`, and `input` copied from the golden dump.

Which ONNX value is which layer: ultralytics' exporter (torch.onnx) names each node after the modules it ran in,
`/model.13/cv2/act/Mul`, so a layer's output is the output of the last node of scope `/model.N/` (the trailing slash
keeps `/model.1/` from matching `/model.13/`; ONNX keeps nodes in topological order, and every node of a layer feeds
its output). `model.23` is what the head's Split reads through a Transpose: the tensor ultralytics' postprocess
splits into boxes and scores. A Candle or C++ port writes the same keys from its own layers.

Usage: python onnx_port.py MODEL.onnx GOLDEN_DIR OUT_DIR   (MODEL.onnx: `yolo export … format=onnx nms=False`)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from safetensors import safe_open
from safetensors.numpy import save_file

DUMP_FORMAT = "yolo10port-dump/1"
LAYERS = 23  # model.0 … model.22; model.23 is the head, found separately


# --- ONNX files are protobuf messages. onnxruntime can run them but not list their nodes or expose an inner value,
# and the `onnx` package is not among this example's three dependencies, so the few fields needed are read (and
# graph outputs appended) at the protobuf wire level: ModelProto.graph = 7; GraphProto.node = 1, .output = 12;
# NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4; ValueInfoProto.name = 1.


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _fields(data: bytes):
    """(field number, wire type, payload for length-delimited fields, start, end) of each field of a message."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            payload, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, payload, start, pos


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _message_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _graph(model: bytes) -> bytes:
    return next(payload for number, wire, payload, _, _ in _fields(model) if number == 7 and wire == 2)


def read_nodes(model: bytes) -> list[dict]:
    """The graph's nodes in file order: name, op_type, inputs, outputs."""
    nodes = []
    for number, wire, payload, _, _ in _fields(_graph(model)):
        if number == 1 and wire == 2:
            node = {"name": "", "op_type": "", "inputs": [], "outputs": []}
            for field, kind, value, _, _ in _fields(payload):
                if kind != 2 or field > 4:  # attributes (5) and the rest are not needed
                    continue
                text = value.decode()
                if field == 1:
                    node["inputs"].append(text)
                elif field == 2:
                    node["outputs"].append(text)
                elif field == 3:
                    node["name"] = text
                elif field == 4:
                    node["op_type"] = text
            nodes.append(node)
    return nodes


def with_outputs(model: bytes, names: list[str]) -> bytes:
    """The model with `names` appended as graph outputs (a name alone: onnxruntime infers type and shape)."""
    extra = b"".join(_message_field(12, _message_field(1, name.encode())) for name in names)
    out = bytearray()
    for number, wire, payload, start, end in _fields(model):
        out += _message_field(7, payload + extra) if number == 7 and wire == 2 else model[start:end]
    return bytes(out)


# --- The interchange mapping: which value is which dump key.


def layer_values(nodes: list[dict]) -> dict[str, str]:
    """Dump key → ONNX value name, for model.0 … model.23."""
    values = {}
    for n in range(LAYERS):
        scope = f"/model.{n}/"
        in_scope = [node for node in nodes if node["name"].startswith(scope)]
        if not in_scope:
            raise SystemExit(f"no node of scope {scope} in the graph: not an ultralytics YOLOv10 export")
        values[f"model.{n}"] = in_scope[-1]["outputs"][0]
    producer = {out: node for node in nodes for out in node["outputs"]}
    for split in (node for node in nodes if node["name"].startswith("/model.23/") and node["op_type"] == "Split"):
        feeder = producer.get(split["inputs"][0], {})
        if feeder.get("op_type") == "Transpose":
            values["model.23"] = feeder["inputs"][0]
            return values
    raise SystemExit("no decoded head before top-k in the graph: export it with nms=False (the one-to-one head)")


def run_port(model_path: Path, golden: Path, out: Path) -> list[Path]:
    model = model_path.read_bytes()
    values = layer_values(read_nodes(model))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(with_outputs(model, list(values.values())), options, ["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    detections = session.get_outputs()[0].name  # the graph's own output: (B, max_det, 6) after top-k
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for reference in sorted(golden.glob("*.safetensors")):
        with safe_open(str(reference), framework="np") as handle:
            image = np.ascontiguousarray(handle.get_tensor("input"), dtype=np.float32)
            metadata = handle.metadata() or {}
        wanted = graph_input.shape
        if len(wanted) != image.ndim or any(isinstance(w, int) and w != s for w, s in zip(wanted, image.shape)):
            raise SystemExit(
                f"{reference}: input {list(image.shape)} does not fit the graph's {wanted} "
                "(a static export takes a square input: make the golden set with --square, or export dynamic)"
            )
        names = [detections, *values.values()]
        results = dict(zip(["detections", *values], session.run(names, {graph_input.name: image})))
        tensors = {"input": image, **{key: np.ascontiguousarray(a, dtype=np.float32) for key, a in results.items()}}
        target = out / reference.name  # the same file name: that is how diff pairs a candidate with its reference
        partial = target.with_name(f".{target.name}.partial")
        save_file(
            tensors,
            str(partial),
            metadata={
                "format": DUMP_FORMAT,
                "producer": f"foreign-port-example (onnxruntime {ort.__version__})",
                "input": metadata.get("input", ""),
            },
        )
        os.replace(partial, target)  # never a half-written dump for diff to read
        written.append(target)
    if not written:
        raise SystemExit(f"{golden}: no .safetensors golden dumps in it")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Dump an ONNX export's layers for each golden dump's input.")
    parser.add_argument("model", type=Path, help="ONNX export with nms=False (the one-to-one head)")
    parser.add_argument("golden", type=Path, help="folder of golden dumps (yolo10port golden)")
    parser.add_argument("out", type=Path, help="folder for the candidate dumps (same file names)")
    args = parser.parse_args()
    for path in run_port(args.model, args.golden, args.out):
        print(f"candidate dump → {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
