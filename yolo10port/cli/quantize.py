"""`yolo10port quantize`: INT8 with the project's preprocessing, the harmful layers kept in float, the fix written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console, out_console, progress_bar
from yolo10port.cli.options import Imgsz, Threads, beside, existing, one_of
from yolo10port.errors import InputError
from yolo10port.shown import literal

BACKENDS = ("onnxruntime", "nncf")
DEFAULT_BUDGET = 0.02  # yolo10port.quantize.workflow.DEFAULT_BUDGET (not imported: --help stays light)


@app.command()
@command
def quantize(
    model: Annotated[Path, typer.Argument(help="weights (.pt, .safetensors export) or their float .onnx export")],
    calib: Annotated[Path, typer.Option("--calib", help="calibration images: a folder, or a data.yaml's val split")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="default: beside MODEL, .int8.onnx", show_default=False)
    ] = None,
    backend: Annotated[str, typer.Option(help="onnxruntime | nncf")] = "onnxruntime",
    keep_float: Annotated[
        str,
        typer.Option(
            "--keep-float",
            help="what stays float: head (the decode) | auto (ranked, the smallest set within --budget) | none | "
            "LIST of module paths (model.10,model.23.decode) or node names",
        ),
    ] = "head",
    val: Annotated[
        Path | None,
        typer.Option(
            "--val",
            help="images to measure mAP on (default: --calib); unlabelled, the float graph's own detections at "
            "conf 0.25 are the labels (agreement with float)",
            show_default=False,
        ),
    ] = None,
    budget: Annotated[
        float, typer.Option(help="largest mAP50-95 drop (float − int8) allowed; exit 1 beyond it")
    ] = DEFAULT_BUDGET,
    imgsz: Imgsz = 640,
    max_calib: Annotated[int, typer.Option(help="calibration images used at most (the first, by path)")] = 64,
    max_val: Annotated[int, typer.Option(help="scoring images used at most (the first, by path)")] = 64,
    exclusion: Annotated[
        Path | None,
        typer.Option(help="where the keep-float set goes (default: beside -o, .exclusion.json)", show_default=False),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="paired bootstrap resamples for the mAP interval")] = 500,
    threads: Threads = None,
):
    """Quantize YOLOv10 to INT8 (QDQ ONNX), keep the harmful layers in float, and write that set out.

    The float graph is MODEL's one-to-one export (as `yolo10port onnx`, static imgsz²) or MODEL itself. Calibration
    images are letterboxed as val and the dumps do. The top-k after the head is never quantized. `--keep-float
    head` keeps the decode (DFL, sigmoid, box arithmetic, the box/score Concat whose one int8 scale zeroes every
    score) in float, found from the mapped graph. `auto` quantizes each module alone, ranks them by the mAP50-95
    they cost, and keeps them in float in that order until the drop is within --budget. The set is written beside
    -o as ONNX Runtime `nodes_to_exclude` and NNCF `ignored_scope`. mAP of float and INT8 with the bootstrap
    interval; exit 1 if the drop exceeds --budget. Without labels, the float graph's detections at conf 0.25 are the
    labels: the drop then measures how far INT8 departs from float, not accuracy.

    [b]Example:[/] yolo10port quantize yolov10n.pt --calib images/ --val data.yaml --keep-float auto -o n.int8.onnx
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.dumps.spec import check_imgsz

    one_of("--backend", backend, BACKENDS)
    if not keep_float.strip():
        raise InputError("--keep-float", "is empty: give auto, head, none, or module paths / node names")
    if not 0 <= budget < 1:
        raise InputError("--budget", f"{budget} is not an mAP50-95 drop in [0, 1)")
    if bootstrap < 1:
        raise InputError("--bootstrap", f"{bootstrap} resamples: give at least 1")
    check_imgsz(imgsz)
    if str(model).startswith("hf:"):
        existing(model)  # found in the local cache by the weights reader (imports torch: only for hf:)
    elif not model.exists():
        raise InputError(model, "no such file")
    elif model.is_dir():
        raise InputError(model, "is a folder: give weights (.pt, .safetensors) or a float .onnx")
    if not calib.exists():
        raise InputError(calib, "--calib: no such folder")
    if val is not None and not val.exists():
        raise InputError(val, "--val: no such file or folder")
    out = out or beside(model, ".int8.onnx")
    if out.suffix.lower() != ".onnx":
        raise InputError(out, "-o: the quantized graph is an ONNX file; name it .onnx")
    from yolo10port.quantize.workflow import exclusion_path

    exclusion = exclusion or exclusion_path(out)
    transaction = guard_outputs({"-o": out, "--exclusion": exclusion}, [model, calib, val])
    from rich.progress import TimeElapsedColumn

    from yolo10port.quantize.workflow import run_quantize

    with transaction, progress_bar(TimeElapsedColumn()) as progress:
        task = progress.add_task("quantize: loading…", total=None)

        def step(what: str, done: int, total: int) -> None:
            progress.update(task, description=f"quantize: {literal(what)}", completed=done, total=total)

        def status(line: str) -> None:
            progress.update(task, description=f"quantize: {literal(line)}", total=None)

        result = run_quantize(
            model,
            calib,
            out,
            exclusion,
            backend=backend,
            keep_float=keep_float,
            val=val,
            budget=budget,
            imgsz=imgsz,
            max_calib=max_calib,
            max_val=max_val,
            resamples=bootstrap,
            progress=step,
            status=status,
        )
    from yolo10port.quantize.report import render

    render(result, out_console)
    for line in result.notes:
        err_console.print(f"note: {line}", highlight=False, markup=False, style="yellow")
    raise typer.Exit(EXIT_PASS if result.passed else EXIT_BREACH)
