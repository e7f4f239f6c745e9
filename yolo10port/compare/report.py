"""Render a diff Report: a rich table, JSON, Markdown, GitHub step summary or JUnit XML.

Every format carries the same facts: per row max-abs, mean-abs, max-rel, cosine, PCC, the reference's noise floor,
the limit and the rule that set it, the margin (limit ÷ max-abs); the keys not compared and why; the verdict,
the first failure and, where a failure pattern is known, its likely cause.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from xml.etree import ElementTree as ET

from yolo10port.compare.drill_rows import blame
from yolo10port.compare.engine import LayerRow, Report
from yolo10port.compare.input_check import INPUT_RULE
from yolo10port.compare.quantized import QUANTIZED_RULE
from yolo10port.compare.quantized import drill_line as quantized_drill
from yolo10port.compare.quantized import verdict_line as quantized_verdict
from yolo10port.shown import literal

# The JSON report's shape, one for `diff` and `check`, one comparison or many (README, "The JSON report"; the JSON
# Schema ships as yolo10port/schemas/report-1.json). Any change to the shape bumps the number.
REPORT_SCHEMA = "yolo10port-report/1"
FORMATS = ("table", "json", "markdown", "github", "junit", "model-explorer")
MACHINE_FORMATS = ("json", "junit", "model-explorer")  # stdout is the document: nothing else may be printed there


def _num(value: float | None, spec: str = ".2e") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return format(value, spec)


def _shape(row: LayerRow) -> str:
    return "×".join(map(str, row.shape)) if row.shape is not None else "—"


def _margin(row: LayerRow) -> str:
    margin = row.margin
    if margin is None:
        return "—"
    if math.isinf(margin):
        return "exact"
    return f"{margin:.1f}×" if margin >= 1 else f"{margin:.2g}×"  # a failing row: 0.0083×, not 0.0×


def _iou(value: float) -> str:
    """Truncated, never rounded up: a near-1 IoU never prints as 1 (0.99999996 shows as 0.99999996)."""
    if value >= 1.0:
        return "1"
    return f"{math.floor(value * 1e9) / 1e9:.9f}".rstrip("0")


def _short(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _rule_text(report: Report) -> str:
    tol = report.tolerance
    rules = {row.rule for row in report.layers if row.rule and row.rule != INPUT_RULE}
    parts = []
    if "floor" in rules:
        mean = any(row.mean_limit is not None for row in report.layers)
        judged_at = tol.get("precision", "float32")  # which precision's floor (compare/precision.py)
        parts.append(
            ("noise-floor rule" if judged_at == "float32" else f"noise-floor rule at {judged_at}")
            + f": max-abs ≤ {tol['k']:g} · max(floor, {tol['eps']:g} · max|ref|)"
            + (f" and mean-abs ≤ {tol['k_mean']:g} · max(mean floor, {tol['eps']:g} · max|ref|)" if mean else "")
        )
    if "fixed" in rules:
        parts.append(f"fixed rule: max-abs ≤ {tol['atol']:g} + {tol['rtol']:g} · max|ref|")
    if QUANTIZED_RULE in rules:
        parts.append("int8 rule: SQNR and PCC per row, diagnosis only (the verdict is val's)")
    return "; ".join(parts) or "no numeric rows"


def verdict(report: Report) -> str:
    """One line: PASS or FAIL, where, and why; a quantized candidate's line says it is diagnosis (quantized.py)."""
    if report.quantized and report.passed:
        hint = report.hint
        line = quantized_verdict(report, report.candidate_meta.get("graph") or "CANDIDATE")
        return line + (f". Likely cause: {hint}" if hint else "")
    det = report.detections
    det_text = ""
    if det is not None:
        det_text = (
            f"; detections {det.matched}/{det.total} matched"
            + (f" (+{det.at_cut} at the top-k cut)" if det.at_cut else "")
            + (f", {det.unexplained} candidate boxes unexplained" if det.unexplained else "")
            + ("; the top-k is saturated on this input (post-processing untested)" if not det.informative else "")
        )
    numeric = [r for r in report.layers if r.rule != INPUT_RULE and r.margin is not None]
    if report.passed:
        tightest = min(numeric, key=lambda r: r.margin, default=None)
        if tightest is None or math.isinf(tightest.margin):
            closeness = "; every compared tensor is bit-identical" if numeric else ""
        else:
            closeness = f"; smallest margin {tightest.margin:.1f}× at {tightest.name} (limit ÷ error)"
        return f"PASS: {len(numeric)} tensors within tolerance{det_text}{closeness}"
    first = report.first_failure
    rows = {row.name: row for row in report.layers}
    where = f"first failure at {first}"
    if first in rows and rows[first].reason:
        where += f" ({rows[first].reason})"
    elif first in rows and rows[first].max_abs is not None:
        where += f" (max-abs {rows[first].max_abs:.2e} > limit {rows[first].limit:.2e})"
    elif first in report.required:
        where += " (required, not in candidate)"
    culprit_text = ""
    if report.isolated:
        culprit = report.culprit
        culprit_text = (
            f"; isolated error points at {culprit} (its own error, with the reference's inputs)"
            if culprit
            else "; every module passes in isolation"
        )
    drilled = f"; drill-down: {blame(report.drill)}" if report.drill else ""
    hint = report.hint
    return f"FAIL: {where}{culprit_text}{drilled}{det_text}" + (f". Likely cause: {hint}" if hint else "")


def unlisted_lines(report: Report) -> list[str]:
    """The keys not compared, and the notes: never silently dropped."""
    lines = []
    if report.missing:
        required = set(report.required)
        if required:
            lines.append(f"not in candidate, required (FAIL): {_short(report.required)}")
        optional = [k for k in report.missing if k not in required]
        if optional:
            lines.append(
                f"not in candidate ({len(optional)}, not failed; --require all to fail them): {_short(optional)}"
            )
    if report.not_comparable:
        lines.append(
            f"no counterpart in the candidate ({len(report.not_comparable)}): "
            + _short([f"{k} ({why})" for k, why in report.not_comparable.items()], 3)
        )
    if report.ignored:
        lines.append(f"not in reference, ignored ({len(report.ignored)}): {_short(report.ignored)}")
    lines += [f"note: {note}" for note in report.notes]
    return lines


def _result(row: LayerRow) -> str:
    if row.rule == QUANTIZED_RULE and row.passed:
        return "diagnosis"
    return "PASS" if row.passed else f"FAIL {row.reason}".rstrip()


def _isolated(row: LayerRow, rich: bool) -> str:
    if row.isolated_passed is None:
        return "—"
    mark = ("[green]✓[/]" if row.isolated_passed else "[red]✗[/]") if rich else ("✓" if row.isolated_passed else "✗")
    return f"{_num(row.isolated_max_abs)} {mark}"


def _columns(report: Report, rich: bool) -> list[tuple[str, Callable[[LayerRow], str]]]:
    columns: list[tuple[str, Callable[[LayerRow], str]]] = [
        ("layer", lambda r: r.name),
        ("type", lambda r: r.type),
        ("shape", _shape),
        ("max-abs", lambda r: _num(r.max_abs)),
    ]
    if report.isolated:
        columns.append(("isolated", lambda r: _isolated(r, rich)))
    columns += [
        ("mean-abs", lambda r: _num(r.mean_abs)),
        ("max-rel", lambda r: _num(r.max_rel)),
        ("cosine", lambda r: _num(r.cosine, ".7f")),
        ("PCC", lambda r: _num(r.pcc, ".7f")),
    ]
    if report.quantized:
        columns.append(("SQNR dB", lambda r: _num(r.sqnr, ".1f")))
        if report.isolated:
            columns.append(("iso SQNR dB", lambda r: _num(r.isolated_sqnr, ".1f")))
            columns.append(("iso PCC", lambda r: _num(r.isolated_pcc, ".4f")))
    if any(row.rule == "floor" for row in report.layers):
        columns.append(("floor", lambda r: _num(r.floor)))
        columns.append(("× floor", lambda r: _num(r.floor_multiple, ".1f")))
    if any(row.mean_floor_multiple is not None for row in report.layers):
        columns.append(("× mean floor", lambda r: _num(r.mean_floor_multiple, ".1f")))
    columns += [("limit", lambda r: _num(r.limit)), ("margin", _margin)]
    return columns


def _detections_cells(report: Report, columns) -> list[str]:
    det = report.detections
    widened = det.match_score > 1e-4 or det.box_tol > 0  # the floor rule followed the head's noise
    tolerance = f"Δscore {det.match_score:.1e}" + (f", {det.box_tol:.2g} px" if det.box_tol else "")
    values = {
        "layer": "detections",
        "type": "matched",
        "shape": f"{det.total} boxes",
        "limit": tolerance if widened else "—",
        "cosine": f"IoU≥{_iou(det.worst_iou)}",
        "PCC": f"Δscore≤{det.worst_score_diff:.1e}",
    }
    return [values.get(name, "—") for name, _ in columns]


def render_table(report: Report, console, with_verdict: bool = True) -> None:
    from rich.table import Table

    from yolo10port.compare.uncut import add_columns, print_uncut

    title = (
        f"reference {literal(report.label('reference'))}  ·  candidate {literal(report.label('candidate'))}  ·  "
        + _rule_text(report)
    )
    table = Table(title=title, title_justify="left")
    columns = _columns(report, rich=True)
    add_columns(table, [name for name, _ in columns] + ["result"], left=("layer", "type", "shape", "result"))
    first = report.first_failure
    for row in report.layers:
        result = "[green]PASS[/]" if row.passed else f"[red]FAIL[/] {literal(row.reason)}".rstrip()
        if row.rule == QUANTIZED_RULE and row.passed:
            result = "[yellow]diagnosis[/]"
        cells = [literal(cell(row)) if name in ("layer", "type") else cell(row) for name, cell in columns]
        table.add_row(*cells, result, style="bold red" if row.name == first else None)
    det = report.detections
    if det is not None:
        result = f"[green]PASS[/] {det.matched}/{det.total}" if det.passed else f"[red]FAIL[/] {literal(det.reason)}"
        if report.quantized:
            result = f"[yellow]diagnosis[/] {det.matched}/{det.total} matched"
        table.add_row(*_detections_cells(report, columns), result, style="bold red" if first == "detections" else None)
    print_uncut(console, table)
    for line in unlisted_lines(report):
        console.print(line, highlight=False, markup=False)
    if report.drill is not None:
        drill = report.drill
        found = blame(drill)
        said = f"; first wrong module [b]{literal(found)}[/]" if found else "; no module inside fails on its own"
        if drill.quantized:
            said = f"; {literal(quantized_drill(drill))}"
        layer = literal(_layer_of(drill))
        console.print(f"[b]drill-down into {layer}[/]: every module inside it{said}", highlight=False)
        render_table(drill, console, with_verdict=False)
    if with_verdict:
        console.print(
            ("[green]" if report.passed else "[bold red]") + literal(verdict(report)) + "[/]", highlight=False
        )


def _layer_of(report: Report) -> str:
    names = [row.name.split("/")[0] for row in report.layers if row.rule != INPUT_RULE]
    return min(names, key=lambda name: (name.count("."), len(name))) if names else "—"


def report_document(
    title: str,
    comparisons: dict[str, Report],
    passed: bool,
    summary: str,
    missing: list[str] | None = None,
    required_missing: list[str] | None = None,
    checks: dict[str, dict] | None = None,
) -> dict:
    """The one JSON shape (REPORT_SCHEMA) of every report: a list of named comparisons, whether one (`diff` of two
    dumps, `check` of one model) or many (a golden folder, `check --all-scales`), plus checks outside the diffs."""
    first = next(((name, r.first_failure) for name, r in comparisons.items() if not r.passed), (None, None))
    entries = []
    for name, report in comparisons.items():
        entry = {"name": name, **report.to_dict(), "verdict": verdict(report)}
        if report.drill is not None:
            entry["drill"]["blame"] = blame(report.drill)  # the culprit in words (compare/drill_rows.py)
        entries.append(entry)
    return {
        "schema": REPORT_SCHEMA,
        "title": title,
        "pass": passed,
        "verdict": summary,
        "first_failing_comparison": first[0],
        "first_failure": first[1],
        "comparisons": entries,
        "missing_comparisons": list(missing or []),
        "required_missing_comparisons": list(required_missing or []),
        "checks": [{"name": name, **facts} for name, facts in (checks or {}).items()],
    }


def dump_document(document: dict) -> str:
    return json.dumps(document, indent=1, default=_json_default) + "\n"


def render_json(report: Report) -> str:
    name = report.label("candidate")
    title = f"{name} against {report.label('reference')}"
    return dump_document(report_document(title, {name: report}, report.passed, verdict(report)))


def _json_default(value):
    return float(value)


def _markdown_table(report: Report, rows: list[LayerRow]) -> list[str]:
    columns = _columns(report, rich=False)
    lines = [
        "| " + " | ".join([name for name, _ in columns] + ["result"]) + " |",
        "|" + "|".join("---" if name in ("layer", "type", "shape") else "---:" for name, _ in columns) + "|---|",
    ]
    first = report.first_failure
    for row in rows:
        cells = [cell(row) for _, cell in columns]
        if row.name == first:
            cells[0] = f"**{cells[0]}**"
        result = "PASS" if row.passed else f"**FAIL** {row.reason}".rstrip()
        lines.append("| " + " | ".join([*cells, result]) + " |")
    det = report.detections
    if det is not None:
        result = f"PASS {det.matched}/{det.total}" if det.passed else f"**FAIL** {det.reason}"
        lines.append("| " + " | ".join([*_detections_cells(report, columns), result]) + " |")
    return lines


def render_markdown(report: Report) -> str:
    lines = [
        f"### yolo10port diff: {'PASS' if report.passed else 'FAIL'}",
        "",
        f"reference `{report.label('reference')}`, candidate `{report.label('candidate')}`; {_rule_text(report)}",
        "",
        *_markdown_table(report, report.layers),
        "",
        *(f"- {line}" for line in unlisted_lines(report)),
        "",
        f"**{verdict(report)}**",
        "",
    ]
    if report.drill is not None:
        lines += [
            f"#### drill-down into {_layer_of(report.drill)}",
            "",
            *_markdown_table(report.drill, report.drill.layers),
            "",
        ]
    return "\n".join(lines)


def render_github(report: Report) -> str:
    """Markdown for `$GITHUB_STEP_SUMMARY`: verdict first, failing rows, drill result and hint, full table folded."""
    status = "✅ PASS" if report.passed else "❌ FAIL"
    lines = [f"## yolo10port parity: {status}", "", f"**{verdict(report)}**", ""]
    lines.append(
        f"reference `{report.label('reference')}` · candidate `{report.label('candidate')}` · {_rule_text(report)}"
    )
    lines.append("")
    failing = [row for row in report.layers if not row.passed]
    if failing:
        lines += ["### Failing rows", "", *_markdown_table(report, failing[:25]), ""]
        if len(failing) > 25:
            lines += [f"… and {len(failing) - 25} more failing rows in the full table below.", ""]
    if report.drill is not None:
        drill = report.drill
        lines += [
            f"### Drill-down into {_layer_of(drill)}",
            "",
            f"First wrong module: **{blame(drill) or 'none fails on its own'}**",
            "",
            *_markdown_table(drill, [row for row in drill.layers if not row.passed][:15]),
            "",
        ]
    if report.hint:
        lines += [f"> **Likely cause:** {report.hint}", ""]
    extra = unlisted_lines(report)
    if extra:
        lines += [*(f"- {line}" for line in extra), ""]
    lines += [
        f"<details><summary>Full table ({len(report.layers)} rows)</summary>",
        "",
        *_markdown_table(report, report.layers),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    cases = len(report.layers) + bool(report.detections) + len(report.required)
    suite = ET.Element("testsuite", name="yolo10port.parity", tests=str(cases))
    failures = 0
    for row in report.layers:
        case = ET.SubElement(suite, "testcase", classname="yolo10port.parity", name=row.name)
        if not row.passed:
            failures += 1
            detail = row.reason or f"max-abs {row.max_abs:.3e} > limit {row.limit:.3e} (pcc {_num(row.pcc, '.6f')})"
            ET.SubElement(case, "failure", message=detail).text = json.dumps(row.to_dict(), default=_json_default)
        else:
            ET.SubElement(
                case, "system-out"
            ).text = (
                f"max-abs {_num(row.max_abs)} limit {_num(row.limit)} margin {_margin(row)} pcc {_num(row.pcc, '.7f')}"
            )
    for key in report.required:
        case = ET.SubElement(suite, "testcase", classname="yolo10port.parity", name=key)
        failures += 1
        ET.SubElement(case, "failure", message="required key not in candidate")
    if report.detections:
        case = ET.SubElement(suite, "testcase", classname="yolo10port.parity", name="detections")
        if not report.detections.passed:
            failures += 1
            ET.SubElement(case, "failure", message=report.detections.reason)
    suite.set("failures", str(failures))
    ET.SubElement(suite, "system-out").text = verdict(report)
    return ET.tostring(suite, encoding="unicode") + "\n"


def render(report: Report, fmt: str) -> str:
    if fmt == "model-explorer":
        from yolo10port.compare.model_explorer import render_model_explorer

        return render_model_explorer(report)
    return {"json": render_json, "markdown": render_markdown, "github": render_github, "junit": render_junit}[fmt](
        report
    )
