"""`--format model-explorer`: the error table as per-node data for Google's Model Explorer, so it shows on the graph.

Model Explorer overlays a `GraphNodeData` JSON file on a graph (its node_data_builder.py): `{"results": {node id:
{"value": number, "bgColor": css colour}}, "thresholds": [...]}`. Its ONNX adapter (model-explorer-onnx) uses each
ONNX node's name as the node id, so the results are keyed by the node names the candidate dump recorded for each
module path (`onnx_nodes` metadata, written by candidates/graph.py). A dump without ONNX node names (a foreign port,
the clean model) is keyed by module path (`model.13.cv1.conv`), the hierarchy Model Explorer shows for a PyTorch
graph. The value is the row's max-abs error (or its margin, or pass as 1/0); the colour is the verdict, so a
failing layer is red on the graph whatever the scale.
"""

from __future__ import annotations

import json
import math

from yolo10port.compare.engine import LayerRow, Report
from yolo10port.compare.input_check import INPUT_RULE
from yolo10port.dumps.keys import DETECTIONS
from yolo10port.errors import InputError

PASS_COLOUR, FAIL_COLOUR = "#a5d6a7", "#ef9a9a"  # light green, light red: node labels stay readable on both
METRICS = ("max_abs", "margin", "pass")
LARGEST = 1.7976931348623157e308  # JSON has no Infinity: an exact row's margin, a NaN row's error


def _finite(value: float) -> float:
    return value if math.isfinite(value) else LARGEST


def _node_ids(report: Report) -> dict[str, str] | None:
    """Dump key → node id: the ONNX node names a graph candidate recorded, or None for a dump without them (a
    foreign port, the clean model), whose rows are keyed by their module path instead."""
    try:
        nodes = json.loads(report.candidate_meta.get("onnx_nodes") or "{}")
    except json.JSONDecodeError:
        nodes = {}
    return nodes if nodes and isinstance(nodes, dict) else None


def _row_value(row: LayerRow, metric: str) -> float:
    if metric == "pass":
        return 1.0 if row.passed else 0.0
    if metric == "margin":
        return _finite(row.margin) if row.margin is not None else 0.0
    return _finite(row.max_abs) if row.max_abs is not None else LARGEST


def _collect(report: Report, metric: str, found: dict[str, list[tuple[bool, float, float]]]) -> None:
    """(passed, value, badness) per node: a module and its last child, or the head's boxes and scores, share one."""
    nodes = _node_ids(report)
    for row in report.layers:
        key = row.name.split("/")[0]
        node = key if nodes is None else nodes.get(key)
        if row.rule == INPUT_RULE or node is None or row.max_abs is None:
            continue
        badness = row.max_abs / row.limit if row.limit else (0.0 if row.max_abs == 0 else LARGEST)
        found.setdefault(node, []).append((row.passed, _row_value(row, metric), _finite(badness)))
    match = report.detections
    node = DETECTIONS if nodes is None else nodes.get(DETECTIONS)
    if match is not None and node:
        value = {"pass": 1.0 if match.passed else 0.0}.get(metric, _finite(match.worst_score_diff))
        found.setdefault(node, []).append((match.passed, value, 0.0 if match.passed else LARGEST))


def model_explorer_data(report: Report, metric: str = "max_abs") -> dict:
    """The `GraphNodeData` document for `report` (its drill-down's deeper rows included)."""
    if metric not in METRICS:
        raise InputError("--metric", f"{metric!r} is not one of {', '.join(METRICS)}")
    found: dict[str, list[tuple[bool, float, float]]] = {}
    _collect(report, metric, found)
    if report.drill is not None:
        _collect(report.drill, metric, found)
    results = {}
    for node, rows in found.items():
        _, value, _ = max(rows, key=lambda item: (not item[0], item[2]))  # the worst row speaks for the node
        results[node] = {"value": value, "bgColor": PASS_COLOUR if all(r[0] for r in rows) else FAIL_COLOUR}
    return {"results": results}


def render_model_explorer(report: Report, metric: str = "max_abs") -> str:
    """Per-node data JSON for Model Explorer ("Add per-node data"), keyed by the candidate graph's node names, or by
    module path for a dump that records none."""
    return json.dumps(model_explorer_data(report, metric), indent=2, allow_nan=False) + "\n"
