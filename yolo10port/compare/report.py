"""Render a diff Report: a rich table, JSON, Markdown or JUnit XML."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from yolo10port.compare.engine import LayerRow, Report

FORMATS = ("table", "json", "markdown", "junit")


def _num(value: float | None, spec: str = ".2e") -> str:
    return "—" if value is None else format(value, spec)


def _shape(row: LayerRow) -> str:
    return "×".join(map(str, row.shape)) if row.shape is not None else "—"


def verdict(report: Report) -> str:
    worst = max((r for r in report.layers if r.max_rel is not None), key=lambda r: r.max_rel, default=None)
    worst_text = (
        f"; worst layer {worst.name} (max-abs {worst.max_abs:.2e}, {worst.max_rel:.2e} of max|ref|)" if worst else ""
    )
    det = report.detections
    det_text = (
        f"; detections {det.matched}/{det.total} matched" + (f" (+{det.at_cut} at the top-k cut)" if det.at_cut else "")
        if det
        else ""
    )
    if report.passed:
        return f"PASS: {len(report.layers)} tensors within tolerance{det_text}{worst_text}"
    culprit = report.culprit
    if report.isolated:
        culprit_text = (
            f"; isolated error points at {culprit} (its own error, with the reference's inputs)"
            if culprit
            else "; every module passes in isolation: the error is inherited and amplified, not a wrong module"
        )
    else:
        culprit_text = ""
    drilled = f"; drill-down: {report.drill.culprit or report.drill.first_failure}" if report.drill else ""
    return f"FAIL: first failure at {report.first_failure}{culprit_text}{drilled}{det_text}{worst_text}"


def _isolated(row: LayerRow) -> str:
    if row.isolated_passed is None:
        return "—"
    mark = "[green]✓[/]" if row.isolated_passed else "[red]✗[/]"
    return f"{_num(row.isolated_max_abs)} {mark}"


def _extra_columns(report: Report) -> list[tuple[str, object]]:
    """Columns that only some reports have: isolated error (check), the float64 noise floor (--tol auto)."""
    extra = []
    if report.isolated:
        extra.append(("isolated", _isolated))
    if report.tolerance.get("mode") == "auto":
        extra.append(("fp32 noise", lambda row: _num(row.noise_floor)))
        extra.append(("needs k", lambda row: _num(row.needs_k, ".1f")))
    return extra


def render_table(report: Report, console: Console) -> None:
    table = Table(title=f"{report.candidate}  vs  {report.reference}", title_justify="left")
    extra = _extra_columns(report)
    columns = ["layer", "type", "shape", "max-abs", *(name for name, _ in extra)]
    columns += ["mean-abs", "max-rel", "cosine", "tolerance", "result"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("layer", "type", "shape", "result") else "right")
    first = report.first_failure
    for row in report.layers:
        result = "[green]PASS[/]" if row.passed else f"[red]FAIL[/] {row.reason}".rstrip()
        style = "bold red" if row.name == first else None
        cells = [row.name, row.type, _shape(row), _num(row.max_abs), *(cell(row) for _, cell in extra)]
        cells += [_num(row.mean_abs), _num(row.max_rel), _num(row.cosine, ".7f"), _num(row.limit), result]
        table.add_row(*cells, style=style)
    det = report.detections
    if det is not None:
        cells = ["detections", "matched", f"{det.total} boxes", "—", *("—" for _ in extra), "—", "—"]
        cells += [f"IoU≥{det.worst_iou:.5f}", f"Δscore {det.worst_score_diff:.1e}"]
        cells += [f"[green]PASS[/] {det.matched}/{det.total}" if det.passed else f"[red]FAIL[/] {det.reason}"]
        table.add_row(*cells, style="bold red" if first == "detections" else None)
    console.print(table)
    if report.drill is not None:
        console.print(f"[b]drill-down into {report.first_failure}[/]: every module inside it")
        render_table(report.drill, console)
    console.print(("[green]" if report.passed else "[bold red]") + verdict(report) + "[/]")


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=1, default=float) + "\n"


def render_markdown(report: Report) -> str:
    lines = [
        f"### yolo10port diff: {'PASS' if report.passed else 'FAIL'}",
        "",
        f"reference `{report.reference}`, candidate `{report.candidate}`, "
        f"atol {report.tolerance['atol']:g}, rtol {report.tolerance['rtol']:g}",
        "",
        "| layer | type | shape | max-abs | mean-abs | max-rel | cosine | tolerance | result |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in report.layers:
        mark = "PASS" if row.passed else f"**FAIL** {row.reason}".rstrip()
        name = f"**{row.name}**" if row.name == report.first_failure else row.name
        lines.append(
            f"| {name} | {row.type} | {_shape(row)} | {_num(row.max_abs)} | {_num(row.mean_abs)} | "
            f"{_num(row.max_rel)} | {_num(row.cosine, '.7f')} | {_num(row.limit)} | {mark} |"
        )
    if report.detections:
        det = report.detections
        lines.append(
            f"| detections | matched | {det.total} boxes | | | | | | "
            f"{'PASS' if det.passed else '**FAIL**'} {det.matched}/{det.total} |"
        )
    lines += ["", verdict(report), ""]
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    suite = ET.Element("testsuite", name="yolo10port.parity", tests=str(len(report.layers) + bool(report.detections)))
    failures = 0
    for row in report.layers:
        case = ET.SubElement(suite, "testcase", classname="yolo10port.parity", name=row.name)
        if not row.passed:
            failures += 1
            detail = row.reason or f"max-abs {row.max_abs:.3e} > {row.limit:.3e}"
            ET.SubElement(case, "failure", message=detail).text = json.dumps(row.to_dict(), default=float)
    if report.detections:
        case = ET.SubElement(suite, "testcase", classname="yolo10port.parity", name="detections")
        if not report.detections.passed:
            failures += 1
            ET.SubElement(case, "failure", message=report.detections.reason)
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="unicode") + "\n"


def render(report: Report, fmt: str) -> str:
    return {"json": render_json, "markdown": render_markdown, "junit": render_junit}[fmt](report)
