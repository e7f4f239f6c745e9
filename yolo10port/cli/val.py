"""`yolo10port val`: parity on a dataset, as a CI gate (match rate and mAP drop; exit 0 pass, 1 breach, 2 input)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console, out_console, progress_bar
from yolo10port.cli.diff import OutReport
from yolo10port.cli.options import Device, Imgsz, Square, one_of
from yolo10port.errors import InputError


@app.command()
@command
def val(
    model: Annotated[Path, typer.Argument(help="weights (.pt, .safetensors export, snapshot) or a golden set folder")],
    data: Annotated[
        Path, typer.Option("--data", help="a folder of images (YOLO .txt labels optional) or an ultralytics data.yaml")
    ],
    candidate: Annotated[
        str,
        typer.Option(
            help="clean | onnxruntime | openvino (exported from MODEL) | PATH.onnx | a folder of per-image results"
        ),
    ] = "clean",
    imgsz: Imgsz = 640,
    square: Square = False,
    conf: Annotated[float, typer.Option(help="the confidence whose boxes are compared (what users see)")] = 0.25,
    iou: Annotated[float, typer.Option(help="a reference box is matched by one of its class with IoU ≥ this")] = 0.9,
    max_map_drop: Annotated[
        float | None,
        typer.Option(help="gate: largest mAP50-95 drop allowed (with labels) [default: 0.005; INT8 graph: 0.02]"),
    ] = None,
    min_match: Annotated[
        float | None,
        typer.Option(
            help="gate: smallest share of reference boxes matched [default: 0.99; INT8 graph with labels: not gated]"
        ),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="paired bootstrap resamples of the images for the mAP interval")] = 500,
    seed: Annotated[int, typer.Option(help="the bootstrap's seed")] = 0,
    dtype: Annotated[str, typer.Option(help="the clean candidate's dtype: float32 | float16 | bfloat16 | float64")] = (
        "float32"
    ),
    fuse: Annotated[bool, typer.Option("--fuse", help="run the clean candidate fused")] = False,
    device: Device = "cpu",
    worst: Annotated[int, typer.Option(help="how many of the worst images to list")] = 10,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="write the worst images' thumbnails (both sides' boxes) here; markdown/github show them",
            show_default=False,
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table | json | markdown | github | junit")] = "table",
    out: OutReport = None,
    workdir: Annotated[Path | None, typer.Option(help="keep the ONNX export here")] = None,
):
    """Parity on a dataset: reference and candidate on every image, per-image detection diffs, and with labels both
    sides' mAP with the paired bootstrap interval of the difference.

    Per image at --conf, each reference box is matched (same class, IoU ≥ --iou), shifted (it overlaps less) or
    lost, and each unclaimed candidate box is gained; a box whose score only crossed --conf counts as matched.
    The worst images each come with the command that drills into them. Exit 1 when the match rate is below
    --min-match or mAP50-95 drops by more than --max-map-drop. A port the tool cannot run hands in a folder of its
    results (one dump per image with `input` and `detections`, or <stem>.json), judged against a golden set
    (`yolo10port golden MODEL --inputs IMAGES/ --detections-only`) from the light install.

    [b]Examples:[/] yolo10port val yolov10s.pt --data coco8.yaml --candidate onnxruntime
              yolo10port val yolov10s.golden --data images/ --candidate port-results/ -f github --images thumbs/
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.compare.val_report import VAL_FORMATS

    one_of("--format", format, VAL_FORMATS)
    if not 0 <= conf < 1:
        raise InputError("--conf", f"{conf} is not in [0, 1)")
    if not 0 < iou <= 1:
        raise InputError("--iou", f"{iou} is not in (0, 1]")
    if min_match is not None and not 0 <= min_match <= 1:
        raise InputError("--min-match", f"{min_match} is not in [0, 1]")
    if bootstrap < 1:
        raise InputError("--bootstrap", f"{bootstrap} resamples: give at least 1")
    if worst < 0:
        raise InputError("--worst", f"{worst} is negative")
    if out:
        check_output_path(out, model, data)
    if images is not None:
        if images.exists() and not images.is_dir():
            raise InputError(images, "--images is a file, not a folder")
        if not images.exists() and not images.parent.is_dir():
            raise InputError(images, f"--images: the folder {images.parent} does not exist")
    if device != "cpu":
        from yolo10port.cli.options import check_device

        check_device(device)
    from rich.progress import TimeRemainingColumn

    from yolo10port.workflows.val import Gate, run_val

    with progress_bar(TimeRemainingColumn()) as progress:
        task = progress.add_task("val: loading…", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, description="val: reference and candidate", completed=done, total=total)

        def status(line: str) -> None:
            progress.update(task, description=f"val: {line}")

        result = run_val(
            model,
            data,
            candidate,
            imgsz,
            square,
            conf,
            iou,
            resamples=bootstrap,
            seed=seed,
            dtype=dtype,
            fuse=fuse,
            device=device,
            workdir=workdir,
            gate=Gate(max_map_drop, min_match),
            progress=step,
            status=status,
            keep_rows=images is not None,
        )
    thumbnails = {}
    if images is not None:
        from yolo10port.compare.val_report import _worst
        from yolo10port.workflows.val_data import load_dataset
        from yolo10port.workflows.val_images import write_thumbnails

        names = load_dataset(data).names
        thumbnails = write_thumbnails(images, _worst(result, worst), result.rows, conf, names, [model, data])
        err_console.print(f"{len(thumbnails)} thumbnails → {images}", highlight=False, markup=False)
    _emit(result, format, out, worst, thumbnails)
    raise typer.Exit(EXIT_PASS if result.passed else EXIT_BREACH)


def _emit(result, fmt: str, out: Path | None, worst: int, thumbnails: dict[str, str]) -> None:
    """Like diff's emit: a document owns stdout (the verdict goes to stderr); with -o, the verdict to stdout."""
    import sys
    from io import StringIO

    from rich.console import Console

    from yolo10port.atomic import write_text_atomic
    from yolo10port.compare.val_report import render, render_table, verdict

    if fmt == "table":
        render_table(result, out_console, worst)
        if out:
            buffer = StringIO()
            render_table(result, Console(file=buffer, width=220, color_system=None), worst)
            write_text_atomic(out, buffer.getvalue())
        return
    text = render(result, fmt, worst, thumbnails)
    if out:
        write_text_atomic(out, text)
        out_console.print(verdict(result), highlight=False, markup=False)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
        err_console.print(verdict(result), highlight=False, markup=False)
