"""The porter's specification (reference/spec.py) as Markdown: the head, the key grammar, the keys, then one
section per module path. Plain text from the built network only; nothing here imports torch."""

from __future__ import annotations

from typing import Any


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _call(call: dict) -> str:
    inputs = ", ".join(f"{_shape(s)}" for s in call["input"].values()) or "?"
    outputs = ", ".join(f"`{k}` {_shape(s)}" for k, s in call["output"].items()) or "?"
    return f"{inputs} → {outputs}"


def module_markdown(entry: dict) -> list[str]:
    lines = [f"### `{entry['path']}` · {entry['type']}", "", f"- class: `{entry['class']}`"]
    if layer := entry.get("layer"):
        sources = ", ".join(f"`{s}`" for s in layer["from"])
        lines.append(f"- input from: {sources} (f = {layer['f']}); output reused later: {layer['reused_later']}")
    if hyper := entry["hyperparameters"]:
        lines.append("- hyperparameters: " + ", ".join(f"{k} = {_value(v)}" for k, v in hyper.items()))
    for call in entry["calls"]:
        lines.append(f"- call `{call['key']}`: {_call(call)}")
    if entry["children"]:
        children = ", ".join(f"`{c}`" for c in entry["children"])
        lines.append(f"- children (as defined; they run in the order of the keys): {children}")
    for key, shape in entry["parameters"].items():
        lines.append(f"- tensor `{key}` {_shape(shape)}")
    if note := entry.get("note"):
        lines.append(f"- note: {note}")
    return [*lines, ""]


def head_markdown(head: dict) -> list[str]:
    checked, topk = head["checked_on_this_run"], head["topk"]
    probe = topk["checked_on_ultralytics_postprocess"]
    levels = "; ".join(
        f"stride {lv['stride']:g}: grid {lv['grid'][0]}×{lv['grid'][1]}, {lv['anchors']} anchors from "
        f"#{lv['first_anchor']}"
        for lv in head["levels"]
    )
    return [
        "## Decoded head and top-k",
        "",
        f"- `{head['decoded_key']}` {_shape(head['decoded_shape'])}: {head['layout']}",
        f"- levels: {levels}",
        f"- anchor centre: {head['anchor_centre']} (offset {head['anchor_offset']}; measured on this run "
        f"{checked['anchor_offset_measured']}, spread {checked['anchor_offset_spread']:.1e})",
        f"- DFL: {head['dfl']['bins']} bins; {head['dfl']['rule']}; {head['dfl']['box']}",
        f"- checked on this run: DFL = softmax expectation {checked['dfl_matches_softmax_expectation']}, "
        f"boxes xyxy in pixels {checked['boxes_are_xyxy_pixels']}, "
        f"scores = sigmoid(logits) {checked['scores_are_sigmoid_of_logits']}",
        f"- top-k: max_det {topk['max_det']}; {topk['rule']}; threshold: {topk['threshold']}; class-agnostic: "
        f"{topk['agnostic']}",
        f"- checked on ultralytics' postprocess ({probe['probe']}): the rule above gives the same rows "
        f"{probe['matches_stated_rule']}; one anchor can give several detections "
        f"{probe['one_anchor_can_give_several_detections']}; rows sorted by score, descending "
        f"{probe['sorted_by_score_descending']}; max_det above A gives A rows "
        f"({probe['rows_when_max_det_exceeds_anchors']})",
        f"- `detections` {_shape(head['detections_shape'])}: x1, y1, x2, y2, score, class",
        "",
    ]


def render_markdown(spec: dict) -> str:
    keys = spec["keys"]
    lines = [
        f"# Porter's specification: {spec['model']} (YOLOv10-{spec['scale']}, nc {spec['nc']}, "
        f"{'fused' if spec['fused'] else 'unfused'}) at {spec['imgsz']}×{spec['imgsz']}",
        "",
        f"Read from the network {spec['producer']} builds (one hooked forward on `{spec['input']}`), weights sha256 "
        f"`{spec['weights_sha256'][:16]}…`. Format `{spec['format']}`.",
        "",
        *head_markdown(spec["head"]),
        "## Dump key grammar",
        "",
        *(f"- {rule}" for rule in keys["grammar"]),
        "",
        f"## Dump keys at depth all ({len(keys['outputs'])} outputs, execution order)",
        "",
        "```",
        *(f"{k['key']}  {_shape(k['shape'])}  {k['type']}" for k in keys["outputs"]),
        "```",
        "",
        f"With `--with-inputs`, {len(keys['inputs'])} input keys:",
        "",
        "```",
        *(f"{k['key']}  {_shape(k['shape'])}" for k in keys["inputs"]),
        "```",
        "",
        f"## Modules ({len(spec['modules'])} paths)",
        "",
    ]
    for entry in spec["modules"]:
        lines += module_markdown(entry)
    return "\n".join(lines)
