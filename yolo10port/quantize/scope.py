"""Which nodes of the float graph belong to which part of YOLOv10, found from the graph's structure and module paths.

The quantizers take node names (ONNX Runtime's `nodes_to_exclude`, NNCF's `IgnoredScope(names=…)`), and exporters
that guessed those names kept getting them wrong (ultralytics #25920: a Sigmoid exclusion caught all 88 SiLUs; NNCF
names from PyTorch that matched no converted node). Here every name comes from the float graph itself, through the
ONNX mapping (candidates/onnx_graph.py: the module path of every node), and the head is cut by the graph's edges:

- `post`: every node downstream of the decoded one-to-one head (`model.23`, found back from the TopK): the top-k,
  the Gathers, the final Concat. Never quantized: indices and class ids are not activations.
- `model.23.one2one_cv2` / `model.23.one2one_cv3`: the box and class convolutions of the head.
- `model.23.decode`: the rest of model.23 that feeds the decoded tensor: the per-level reshape/concat of box and
  class maps, the DFL, the anchor arithmetic, the Sigmoid and the Concat of boxes (pixels, 0–imgsz) with scores
  (0–1), which under one int8 scale rounds every score to 0.
- `model.0` … `model.22`: the backbone and neck, one unit per top-level module.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from yolo10port.candidates.onnx_graph import OnnxGraph, find_decoded, load_graph, map_graph
from yolo10port.errors import InputError

HEAD = "model.23"
DECODE = "model.23.decode"
POST = "post"
HEAD_CONVS = ("model.23.one2one_cv2", "model.23.one2one_cv3")
HEAD_PARTS = (*HEAD_CONVS, DECODE)


@dataclass
class GraphScope:
    """The float graph cut into units (module path → node names, execution order), plus the top-k part."""

    path: str
    input_name: str
    input_shape: tuple
    units: dict[str, list[str]]  # model.0 … model.22, model.23.one2one_cv2/cv3, model.23.decode
    post: list[str]  # after the decoded head (and anything off the path to it): never quantized
    node_names: set[str] = field(default_factory=set)

    def nodes_of(self, units: list[str]) -> list[str]:
        return [name for unit in units for name in self.units[unit]]

    @property
    def imgsz(self) -> int | None:
        h, w = self.input_shape[2:4] if len(self.input_shape) == 4 else (None, None)
        return h if isinstance(h, int) and h == w else None


def _descendants(graph: OnnxGraph, value: str) -> set[int]:
    seen: set[int] = set()
    queue = deque(graph.consumers.get(value, []))
    while queue:
        i = queue.popleft()
        if i in seen:
            continue
        seen.add(i)
        for out in graph.nodes[i].output:
            queue.extend(graph.consumers.get(out, []))
    return seen


def _ancestors(graph: OnnxGraph, value: str) -> set[int]:
    seen: set[int] = set()
    queue = deque([value])
    while queue:
        i = graph.producer.get(queue.popleft())
        if i is None or i in seen:
            continue
        seen.add(i)
        queue.extend(name for name in graph.nodes[i].input if name)
    return seen


def _unit_of(keys: list[str]) -> str | None:
    if not keys:
        return None
    top = keys[0].split("#")[0]
    if top != HEAD:
        return top
    for conv in HEAD_CONVS:
        if any(key.split("#")[0] == conv or key.startswith(conv + ".") for key in keys):
            return conv
    return DECODE


def graph_scope(path) -> GraphScope:
    """Cut the float graph at `path` into units; InputError if it is not a float YOLOv10 one-to-one export."""
    graph = load_graph(path)
    if any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.nodes):
        raise InputError(path, "is already quantized (it holds QuantizeLinear/DequantizeLinear); give the float graph")
    gmap = map_graph(graph)  # refuses NMS exports, renamed graphs, the one-to-many head
    decoded = find_decoded(graph)
    after = _descendants(graph, decoded)
    before = _ancestors(graph, decoded)
    units: dict[str, list[str]] = {f"model.{i}": [] for i in range(23)}
    units.update({part: [] for part in HEAD_PARTS})
    post = []
    for i, node in enumerate(graph.nodes):
        if i in after:
            post.append(node.name)
            continue
        unit = _unit_of(graph.keys_of[i])
        if unit is None or i not in before:
            post.append(node.name)  # not on the path to the decoded head (a shape read, …): left in float
            continue
        if not node.name:
            raise InputError(path, f"a {node.op_type} node of {unit} has no name; quantizers exclude nodes by name")
        units.setdefault(unit, []).append(node.name)
    units = {unit: names for unit, names in units.items() if names}
    if DECODE not in units:
        raise InputError(path, "found no decode part of model.23 before the top-k; is it a YOLOv10 detection graph?")
    return GraphScope(
        path=str(path),
        input_name=gmap.input_name,
        input_shape=tuple(gmap.input_shape),
        units=units,
        post=post,
        node_names={node.name for node in graph.nodes},
    )


MODULE_PATH = re.compile(r"model\.\d+(\.[A-Za-z0-9_.]+)?")


def resolve_keep_float(spec: str, scope: GraphScope) -> tuple[list[str], list[str]]:
    """`--keep-float` as (units, extra node names). `head` → the decode part; `none` → nothing; a comma list of
    module paths (`model.10`, `model.23`, `model.23.decode`, `model.10.attn`) or node names from the graph."""
    spec = spec.strip()
    if spec in ("none", ""):
        return [], []
    if spec == "head":
        return [DECODE], []
    units: list[str] = []
    nodes: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item in scope.units:
            units.append(item)
        elif item == "head":
            units.append(DECODE)
        elif item == HEAD:
            units.extend(part for part in HEAD_PARTS if part in scope.units)
        elif item in scope.node_names:
            if item in scope.post:
                continue  # already kept in float
            nodes.append(item)
        elif MODULE_PATH.fullmatch(item):
            inner = _inner_nodes(scope, item)
            if not inner:
                raise InputError(
                    "--keep-float",
                    f"{item!r}: no node of {scope.path} runs in that module (module paths: model.0 … model.22, "
                    f"{', '.join(HEAD_PARTS)}, or deeper ones such as model.10.attn)",
                )
            nodes.extend(inner)
        else:
            raise InputError(
                "--keep-float",
                f"{item!r} is neither auto, head, none, a module path (model.10, model.23.decode) nor a node name "
                f"of {scope.path}",
            )
    return list(dict.fromkeys(units)), list(dict.fromkeys(nodes))


def _inner_nodes(scope: GraphScope, module: str) -> list[str]:
    """Node names that ran inside `module` (a deeper path such as `model.10.attn`), read from their scope names."""
    from yolo10port.candidates.onnx_graph import scope_keys

    found = []
    for names in scope.units.values():
        for name in names:
            keys = [key.split("#")[0] for key in scope_keys(name)]
            if module in keys:
                found.append(name)
    return found
