"""`yolo10port diff` and how every report reaches the user (`emit`): the one command a port's CI needs.

Imports neither torch nor ultralytics: it runs from the light install (README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, SafeConsole, app, command, err_console, out_console
from yolo10port.cli.options import Format, Layer, Precision, Require, Tol, one_of
from yolo10port.cli.tolerance_options import AtolOption, KMeanOption, KOption, RtolOption

OutReport = Annotated[
    Path | None, typer.Option("-o", "--out", help="write the report to this file (default: stdout)", show_default=False)
]


def emit(report, fmt: str, out: Path | None) -> None:
    """Print or write a Report or a ReportSet. A machine-readable document owns stdout: nothing else is printed
    there (human lines go to stderr); with -o the document goes to the file and the verdict to stdout."""
    import sys
    from io import StringIO

    from yolo10port.atomic import write_text_atomic
    from yolo10port.compare.report import render, render_table, verdict
    from yolo10port.compare.sets import ReportSet
    from yolo10port.shown import printable

    many = isinstance(report, ReportSet)
    summary = report.verdict() if many else verdict(report)
    if fmt == "table":
        draw = report.render_table if many else lambda console: render_table(report, console)
        if not out:
            draw(out_console)
            return
        buffer = StringIO()
        draw(SafeConsole(file=buffer, width=220, color_system=None))
        write_text_atomic(out, buffer.getvalue())
        out_console.print(summary, highlight=False, markup=False, soft_wrap=True)
        return
    # Keys and paths from the dumps may hold terminal escapes: shown as `\x1b` in every format (JSON escapes them
    # already; Markdown and JUnit XML would carry them raw, and XML cannot hold them at all).
    text = printable(report.render(fmt) if many else render(report, fmt))
    if out:
        write_text_atomic(out, text)
        out_console.print(summary, highlight=False, markup=False)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
        err_console.print(summary, highlight=False, markup=False)


def check_format(fmt: str) -> None:
    from yolo10port.compare.report import FORMATS

    one_of("--format", fmt, FORMATS)


@app.command()
@command
def diff(
    reference: Annotated[Path, typer.Argument(help="reference dump (.safetensors), or a folder of them (golden)")],
    candidate: Annotated[Path, typer.Argument(help="candidate dump from any language, or a folder of them")],
    layer: Layer = None,
    tol: Tol = None,
    k: KOption = None,
    k_mean: KMeanOption = None,
    atol: AtolOption = None,
    rtol: RtolOption = None,
    tolerances: Annotated[Path | None, typer.Option(help="TOML file with per-layer overrides")] = None,
    require: Require = None,
    format: Format = "table",
    out: OutReport = None,
    force: Annotated[bool, typer.Option("--force", help="compare dumps of different inputs or models")] = False,
    drill: Annotated[
        bool, typer.Option("--drill", help="list the submodules of the first failing layer (dumps at --depth all)")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="also draw the per-layer errors (log scale) to this PNG")] = None,
    isolated: Annotated[
        Path | None,
        typer.Option(
            help="the port's isolated dump: each module's output when fed the reference's recorded input "
            "(<key>@input) under its own key; adds the isolated column, the culprit and drives --drill"
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="folders: a golden dump the candidate folder lacks is listed, not failed"),
    ] = False,
    precision: Precision = None,
):
    """Per-layer error table of two dumps (or two folders of dumps); exit 1 on a tolerance breach.

    Each row is judged against the reference's own noise floor (how far float32 moves it on this input) unless
    --tol fixed; --atol/--rtol alone also mean the fixed rule. Keys the candidate lacks are listed, not failed,
    unless --require. A candidate computing in float16, bfloat16, TF32 or with Winograd kernels is judged by the
    reference's floor of that precision (dump --floors), chosen by its metadata `precision` or --precision.

    With --isolated, a second dump of the port (each module fed the reference's recorded inputs, from `dump
    --with-inputs`) adds the isolated column: the first module whose own error breaches is the culprit.

    [b]Example:[/] yolo10port diff ref.safetensors clean.safetensors --layer 0..23 --format junit -o report.xml
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.compare import load_tolerances

    check_format(format)
    # the report and the plot are renamed into place together, once both are written
    outputs = guard_outputs({"-o": out, "--plot": plot}, [reference, candidate, tolerances, isolated])
    rules = load_tolerances(tolerances, atol, rtol, mode=tol, k=k, k_mean=k_mean)
    if reference.is_dir() or candidate.is_dir():
        from yolo10port.compare.sets import diff_sets

        result = diff_sets(reference, candidate, layer, rules, force, require, allow_missing, precision)
        if isolated:
            from yolo10port.compare.isolated import attach_isolated_set

            attach_isolated_set(result, reference, isolated, force)
        with outputs:
            emit(result, format, out)
        raise typer.Exit(EXIT_PASS if result.passed else EXIT_BREACH)
    from yolo10port.compare import diff_dumps

    report = diff_dumps(reference, candidate, layer, rules, force, require, precision)
    if isolated:
        from yolo10port.compare.isolated import attach_isolated_dump

        attach_isolated_dump(report, reference, isolated, force)
    if drill and not report.passed:
        from yolo10port.compare.drill_rows import drill_existing

        report.drill = drill_existing(report)
        if report.drill is None:
            err_console.print(
                "[yellow]note:[/] the dumps hold no submodules of the failing layer; dump both sides "
                "with --depth all to drill down"
            )
    with outputs:
        emit(report, format, out)
        if plot:
            from yolo10port.compare.plot import plot_errors

            err_console.print(
                f"plot of the per-layer errors → {plot_errors(report, plot)}", highlight=False, markup=False
            )
    raise typer.Exit(EXIT_PASS if report.passed else EXIT_BREACH)
