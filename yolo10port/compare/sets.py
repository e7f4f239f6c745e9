"""Many comparisons, one report: a golden folder against a candidate folder, or `check --all-scales`.

Each named comparison (an input of a golden set, a scale) keeps its own full Report; the set passes iff every one
does, and renders as one document in every format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from yolo10port.compare.engine import Report, diff_dumps
from yolo10port.compare.integrity import GOLDEN_INDEX, verify_golden_set
from yolo10port.compare.rules import Tolerances
from yolo10port.errors import InputError
from yolo10port.shown import literal

__all__ = ["GOLDEN_INDEX", "ReportSet", "diff_sets"]  # GOLDEN_INDEX: defined with the index's verification


@dataclass
class ReportSet:
    title: str
    reports: dict[str, Report] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # named comparisons the candidate side lacks
    required_missing: list[str] = field(default_factory=list)  # those that fail (all of them, unless allowed)
    allow_missing: bool = False  # --allow-missing: golden members the candidate lacks are listed, not failed
    extra: dict[str, dict] = field(default_factory=dict)  # per name, facts outside the diff (e.g. end to end)
    failed_extra: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values()) and not self.required_missing and not self.failed_extra

    def verdict(self) -> str:
        from yolo10port.compare.report import verdict

        failing = [name for name, r in self.reports.items() if not r.passed] + self.failed_extra
        head = f"{'PASS' if self.passed else 'FAIL'}: {len(self.reports)} comparisons"
        if self.missing:
            head += f" of {len(self.reports) + len(self.missing)}"
        if failing:
            head += f", failing: {', '.join(dict.fromkeys(failing))}"
        if self.required_missing:
            head += f", not in candidate (FAIL): {', '.join(self.required_missing)}"
        elif self.missing:
            head += f" (--allow-missing: not in candidate, not judged: {', '.join(self.missing)})"
        lines = [head] + [f"  {name}: {verdict(r)}" for name, r in self.reports.items()]
        return "\n".join(lines)

    def render_table(self, console) -> None:
        from rich.table import Table

        from yolo10port.compare.report import render_table
        from yolo10port.compare.uncut import add_columns, print_uncut

        for name, report in self.reports.items():
            console.print(f"[b]── {literal(name)}[/]", highlight=False)
            render_table(report, console)
        summary = Table(title=literal(self.title))
        add_columns(
            summary,
            ["comparison", "first failure", "smallest margin", "detections", "result"],
            left=("comparison", "first failure", "result"),
        )
        for name, report in self.reports.items():
            margins = [r.margin for r in report.layers if r.margin is not None and r.rule != "input"]
            det = report.detections
            summary.add_row(
                literal(name),
                literal(report.first_failure or "—"),
                f"{min(margins):.1f}×" if margins and min(margins) != float("inf") else "exact",
                f"{det.matched}/{det.total}" if det else "—",
                "[green]PASS[/]" if report.passed else "[red]FAIL[/]",
            )
        for name in self.missing:
            summary.add_row(
                literal(name), "not in candidate", "—", "—", "[red]FAIL[/]" if name in self.required_missing else "—"
            )
        print_uncut(console, summary)
        for name, facts in self.extra.items():
            if "line" in facts:
                console.print(f"{name}: {facts['line']}", highlight=False, markup=False, soft_wrap=True)
        console.print(("[green]" if self.passed else "[bold red]") + literal(self.verdict().splitlines()[0]) + "[/]")

    def to_dict(self) -> dict:
        """The JSON report (compare/report.py, REPORT_SCHEMA)."""
        from yolo10port.compare.report import report_document

        return report_document(
            self.title, self.reports, self.passed, self.verdict(), self.missing, self.required_missing, self.extra
        )

    def render(self, fmt: str) -> str:
        from yolo10port.compare import report as formats

        if fmt == "json":
            document = formats.report_document(
                self.title, self.reports, self.passed, self.verdict(), self.missing, self.required_missing, self.extra
            )
            return formats.dump_document(document)
        if fmt == "junit":
            suites = ET.Element("testsuites", name=self.title)
            for name, report in self.reports.items():
                suite = ET.fromstring(formats.render_junit(report))
                suite.set("name", f"yolo10port.parity.{name}")
                suites.append(suite)
            for name in self.missing:  # a golden member the port wrote nothing for: a failure unless allowed
                suite = ET.SubElement(suites, "testsuite", name=f"yolo10port.parity.{name}", tests="1")
                case = ET.SubElement(suite, "testcase", classname=f"yolo10port.parity.{name}", name="dump")
                if name in self.required_missing:
                    suite.set("failures", "1")
                    ET.SubElement(case, "failure", message="not in candidate: the port wrote no dump for it")
                else:
                    ET.SubElement(case, "skipped", message="not in candidate (--allow-missing)")
            return ET.tostring(suites, encoding="unicode") + "\n"
        if fmt in ("markdown", "github"):
            single = formats.render_markdown if fmt == "markdown" else formats.render_github
            parts = [f"# {self.title}: {'PASS' if self.passed else 'FAIL'}", ""]
            parts += [f"- {line.strip()}" for line in self.verdict().splitlines()[1:]]
            for name in self.missing:
                note = " (FAIL)" if name in self.required_missing else " (--allow-missing)"
                parts.append(f"- {name}: not in candidate{note}")
            parts.append("")
            for name, report in self.reports.items():
                parts += [f"## {name}", "", re.sub(r"(?m)^(#{2,}) ", r"#\1 ", single(report)), ""]
            return "\n".join(parts)
        if fmt == "model-explorer":
            raise InputError("--format", "model-explorer describes one ONNX candidate; diff one pair of dumps")
        raise InputError("--format", f"{fmt!r} is not a format")


def _dumps_in(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))}


def diff_sets(
    reference: Path,
    candidate: Path,
    layers: str | None = None,
    tolerances: Tolerances | None = None,
    force: bool = False,
    require: str | None = None,
    allow_missing: bool = False,
    precision: str | None = None,
) -> ReportSet:
    """Each reference dump of a folder (a golden set) against the candidate dump of the same file name.

    A golden member the candidate folder lacks fails the set (a port that wrote nothing for an input must not
    pass); `allow_missing` lists it instead, and the verdict says so."""
    for side in (reference, candidate):
        if not side.exists():
            raise InputError(side, "no such file or folder")
        if not side.is_dir():
            raise InputError(side, "give two folders (a golden set and a candidate set), or two dump files")
    references = _dumps_in(reference)
    if not references:
        raise InputError(reference, "holds no .safetensors dumps")
    verify_golden_set(reference, references)  # every dump as index.json recorded it, before any is trusted
    candidates = _dumps_in(candidate)
    result = ReportSet(f"{candidate} against {reference}", allow_missing=allow_missing)
    for name, path in references.items():
        if name not in candidates:
            result.missing.append(name)
            if not allow_missing:
                result.required_missing.append(name)
            continue
        report = diff_dumps(path, candidates[name], layers, tolerances, force, require, precision)
        result.reports[name] = report
    if not result.reports:
        raise InputError(
            candidate, f"no dump named like the reference's ({', '.join(sorted(references))}): nothing to compare"
        )
    return result
