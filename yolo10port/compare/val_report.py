"""Render a `val` result in every format the other commands speak: table, json, markdown, github, junit.

The JSON document has the report's common shape (`schema`, `reference`, `candidate`, `pass`, `first_failure`,
`tolerance`, `layers`, `detections`) so a CI reads diff, check and val alike; val's own facts sit under `val`.
"""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree as ET

from yolo10port.compare.report import REPORT_SCHEMA  # the JSON report's version: one constant for every command

VAL_FORMATS = ("table", "json", "markdown", "github", "junit")


def _f(value: float | None, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def _signed(value: float, spec: str = "+.4f") -> str:
    """A delta with its sign; one too small for 4 decimals in scientific notation (never a misleading +0.0000)."""
    if value == 0:
        return "0"
    return format(value, "+.1e" if abs(value) < 5e-5 else spec)


def _rate(value: float | None) -> str:
    return f"{value:.1f} images/s" if value else "read from files"


def map_line(result) -> str | None:
    m = result.map
    if m is None:
        return None
    return (
        f"mAP50-95 {_f(m.reference_map)} → {_f(m.candidate_map)} (Δ {_signed(m.delta)}, {m.confidence:.0%} CI "
        f"[{_signed(m.ci[0])}, {_signed(m.ci[1])}]); mAP50 {_f(m.reference_map50)} → {_f(m.candidate_map50)} "
        f"(Δ {_signed(m.delta50)}, CI [{_signed(m.ci50[0])}, {_signed(m.ci50[1])}]); {m.images} images, "
        f"{m.labels} labels, {m.resamples} paired bootstrap resamples (seed {m.seed}), {m.implementation}"
    )


def match_line(result) -> str:
    d = result.diff
    return (
        f"{d.total('reference')} reference boxes at conf>{d.conf:g}: {d.total('matched')} matched (IoU≥{d.iou:g}), "
        f"{d.total('shifted')} shifted, {d.total('lost')} lost, {d.total('gained')} gained, "
        f"{d.total('at_conf')} crossed the conf threshold"
        + (f", {d.total('at_cut')} tied at the max_det cut (excused)" if d.total("at_cut") else "")
        + f"; match rate {d.match_rate:.4f}; "
        f"{d.perfect_images}/{len(d.images)} images identical in boxes"
    )


def speed_line(result) -> str:
    return (
        f"reference {_rate(result.throughput.get('reference'))}, candidate {_rate(result.throughput.get('candidate'))}"
    )


def verdict(result) -> str:
    """One line: PASS or FAIL, the gate's figures, and the likely cause."""
    d = result.diff
    least = result.gate.min_match
    parts = [f"match rate {d.match_rate:.4f} " + (f"(min {least:g})" if least is not None else "(not gated: INT8)")]
    if result.map is not None:
        m = result.map
        parts.append(
            f"mAP50-95 Δ {_signed(m.delta)} CI [{_signed(m.ci[0])}, {_signed(m.ci[1])}] "
            f"(max drop {result.gate.max_map_drop:g})"
        )
    head = "PASS" if result.passed else "FAIL: " + "; ".join(result.failures) + " —"
    line = f"{head} val of {result.candidate_label} on {len(d.images)} images: " + ", ".join(parts)
    cause = result.likely_cause()
    return line + (f". Likely cause: {cause}" if cause else "")


def _worst(result, count: int):
    return [
        d
        for d in result.diff.worst(count)
        if d.problems or d.max_abs_score_delta > 0 or d.worst_iou < 1 or d.input_cause or d.at_conf
    ]


def _preprocessing_line(result) -> str:
    p = result.preprocessing
    detail = p.get("letterbox_detail") or p.get("letterbox")
    proof = p.get("predictor_identical")
    proven = (
        ""
        if proof is None
        else (
            "; identical to ultralytics' predictor's input on the first image"
            if proof
            else "; DIFFERS from ultralytics' predictor's input on the first image"
        )
    )
    return f"preprocessing: imgsz {p.get('imgsz')}, letterbox {detail}, channels {p.get('channels')}{proven}"


def to_dict(result, worst: int = 10) -> dict:
    """The report's one shape (compare/report.py, schemas/report-1.json): val is one comparison with no layer rows,
    its gate's two tests are `checks`, and its own facts (per image, mAP, preprocessing) sit under `val`."""
    d = result.diff
    failures = result.failures
    first_failure = next((name for name, ok, _ in result.checks if not ok), None)
    summary = verdict(result)
    comparison = {
        "name": "val",
        "reference": result.reference_label,
        "candidate": result.candidate_label,
        "pass": result.passed,
        "verdict": summary,
        "first_failure": first_failure,
        "hint": result.likely_cause(),
        "tolerance": {
            "min_match": result.gate.min_match,
            "max_map_drop": result.gate.max_map_drop,
            "conf": d.conf,
            "iou": d.iou,
        },
        "layers": [],
        "detections": None,  # val's per-box classes (matched/shifted/lost/gained) are under `val`
        "not_in_candidate": [],
        "required_missing": [],
        "not_in_reference_ignored": [],
        "not_comparable": {},
        "notes": list(result.notes),
        "isolated": False,
        "culprit": None,
        "drill": None,
    }
    return {
        "schema": REPORT_SCHEMA,
        "title": f"val of {result.candidate_label} against {result.reference_label}",
        "pass": result.passed,
        "verdict": summary,
        "first_failing_comparison": None if result.passed else "val",
        "first_failure": first_failure,
        "comparisons": [comparison],
        "missing_comparisons": [],
        "required_missing_comparisons": [],
        "checks": [{"name": name, "pass": bool(ok), "line": text} for name, ok, text in result.checks],
        "val": {
            "data": result.data,
            "boxes": {
                "total": d.total("reference"),
                "matched": d.total("matched"),
                "shifted": d.total("shifted"),
                "lost": d.total("lost"),
                "gained": d.total("gained"),
                "at_conf": d.total("at_conf"),
                "at_cut": d.total("at_cut"),
                "informative": d.informative,
                "match_rate": d.match_rate,
                "pass": result.gate.min_match is None or d.match_rate >= result.gate.min_match,
            },
            "model": result.model,
            "candidate_option": result.candidate,
            "images": len(d.images),
            "preprocessing": result.preprocessing,
            "failures": failures,
            "likely_cause": result.likely_cause(),
            "input_causes": d.input_causes(),
            "score_delta": d.score_delta_summary(),
            "map": result.map.to_dict() if result.map else None,
            "throughput_images_per_s": result.throughput,
            "seconds": result.seconds,
            "timings": result.timings,
            "notes": result.notes,
            "worst": [{**w.to_dict(), "drill": result.drill.get(w.name)} for w in _worst(result, worst)],
            "per_image": [image.to_dict() for image in d.images],
        },
    }


def render_json(result, worst: int = 10) -> str:
    return json.dumps(to_dict(result, worst), indent=1, default=float) + "\n"


def _image_row(image) -> list[str]:
    return [
        image.name,
        f"{image.matched}/{image.reference}",
        str(image.shifted),
        str(image.lost),
        str(image.gained),
        f"{image.max_abs_score_delta:.2e}",
        _f(image.worst_iou, ".6f") if image.matched else "—",
        image.input_cause or "",
    ]


HEADER = ["image", "matched", "shifted", "lost", "gained", "max |Δscore|", "worst IoU", "input"]


def summary_lines(result) -> list[str]:
    lines = [match_line(result)]
    line = map_line(result)
    if line:
        lines.append(line)
    s = result.diff.score_delta_summary()
    if s["count"]:
        lines.append(
            f"score Δ over {s['count']} matched boxes: mean {s['mean']:+.2e}, p99 |Δ| {s['p99_abs']:.2e}, "
            f"max |Δ| {s['max_abs']:.2e}"
        )
    lines.append(_preprocessing_line(result))
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    lines.append(f"throughput: {speed_line(result)}; {result.seconds:.1f} s in all ({spent})")
    causes = result.diff.input_causes()
    for cause, count in causes.items():
        lines.append(f"input differs on {count} images: {cause}")
    lines += [f"note: {note}" for note in result.notes]
    return lines


def render_table(result, console, worst: int = 10) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"val: reference {escape(result.reference_label)} · candidate {escape(result.candidate_label)} · "
        f"{escape(result.data)}",
        title_justify="left",
    )
    for name in HEADER:
        table.add_column(name, justify="left" if name in ("image", "input") else "right")
    shown = _worst(result, worst)
    for image in shown:
        table.add_row(*(escape(cell) for cell in _image_row(image)), style="red" if image.problems else None)
    if shown:
        console.print(table)
        for image in shown:
            if image.problems or image.input_cause:
                console.print(f"  {escape(image.name)}: {escape(result.drill.get(image.name, ''))}", highlight=False)
    else:
        console.print("every image: the same boxes, classes and scores on both sides", highlight=False)
    for line in summary_lines(result):
        console.print(line, highlight=False, markup=False)
    console.print(("[green]" if result.passed else "[bold red]") + escape(verdict(result)) + "[/]", highlight=False)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _markdown_worst(result, worst: int, thumbnails: dict[str, str]) -> list[str]:
    shown = _worst(result, worst)
    if not shown:
        return ["Every image: the same boxes, classes and scores on both sides.", ""]
    lines = [
        "| " + " | ".join(_md_escape(h) for h in HEADER + ["drill into it"]) + " |",
        "|---|" + "---:|" * 6 + "---|---|",
    ]
    for image in shown:
        cells = [_md_escape(c) for c in _image_row(image)] + [f"`{_md_escape(result.drill.get(image.name, ''))}`"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for image in shown:
        if image.name in thumbnails:
            lines += [
                f"**{_md_escape(image.name)}** (left: reference, right: candidate; red: lost, shifted or gained)",
                "",
                f"![{_md_escape(image.name)}]({thumbnails[image.name]})",
                "",
            ]
    return lines


def render_markdown(result, worst: int = 10, thumbnails: dict[str, str] | None = None) -> str:
    lines = [
        f"### yolo10port val: {'PASS' if result.passed else 'FAIL'}",
        "",
        f"reference `{_md_escape(result.reference_label)}`, candidate `{_md_escape(result.candidate_label)}`, "
        f"data `{_md_escape(result.data)}`",
        "",
        *(f"- {_md_escape(line)}" for line in summary_lines(result)),
        "",
        "#### Worst images",
        "",
        *_markdown_worst(result, worst, thumbnails or {}),
        f"**{_md_escape(verdict(result))}**",
        "",
    ]
    return "\n".join(lines)


def render_github(result, worst: int = 10, thumbnails: dict[str, str] | None = None) -> str:
    status = "✅ PASS" if result.passed else "❌ FAIL"
    lines = [
        f"## yolo10port val: {status}",
        "",
        f"**{_md_escape(verdict(result))}**",
        "",
        *(f"- {_md_escape(line)}" for line in summary_lines(result)),
        "",
    ]
    cause = result.likely_cause()
    if cause:
        lines += [f"> **Likely cause:** {_md_escape(cause)}", ""]
    lines += ["### Worst images", "", *_markdown_worst(result, worst, thumbnails or {})]
    per_image = [
        "| " + " | ".join(_md_escape(h) for h in HEADER) + " |",
        "|---|" + "---:|" * 6 + "---|",
        *("| " + " | ".join(_md_escape(c) for c in _image_row(image)) + " |" for image in result.diff.images),
    ]
    lines += [
        f"<details><summary>Every image ({len(result.diff.images)})</summary>",
        "",
        *per_image,
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def render_junit(result, worst: int = 10) -> str:
    suite = ET.Element("testsuite", name="yolo10port.val")
    cases = 0
    failures = 0

    def case(name: str, failed: str | None, text: str) -> None:
        nonlocal cases, failures
        cases += 1
        element = ET.SubElement(suite, "testcase", classname="yolo10port.val", name=name)
        if failed:
            failures += 1
            ET.SubElement(element, "failure", message=failed).text = text
        else:
            ET.SubElement(element, "system-out").text = text

    for name, ok, text in result.checks:
        detail = {"match rate": match_line(result), "mAP50-95 drop": map_line(result) or ""}.get(name, "")
        cause = result.likely_cause() if name == "input" else None
        case(name, None if ok else text, "\n".join(filter(None, [text, detail, cause])))
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    ET.SubElement(suite, "system-out").text = "\n".join([*summary_lines(result), verdict(result)])
    return ET.tostring(suite, encoding="unicode") + "\n"


def render(result, fmt: str, worst: int = 10, thumbnails: dict[str, str] | None = None) -> str:
    if fmt == "json":
        return render_json(result, worst)
    if fmt == "junit":
        return render_junit(result, worst)
    if fmt == "markdown":
        return render_markdown(result, worst, thumbnails)
    if fmt == "github":
        return render_github(result, worst, thumbnails)
    raise ValueError(fmt)
