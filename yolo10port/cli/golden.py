"""`yolo10port golden`: the reference dumps a port's CI keeps, so that later jobs compare without ultralytics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import app, command, err_console, out_console
from yolo10port.cli.options import Depth, Floors, Imgsz, Square, Threads, beside, existing, run_spec
from yolo10port.shown import literal
from yolo10port.workflows.golden import DEFAULT_INPUTS, GOLDEN_INDEX


@app.command()
@command
def golden(
    model: Annotated[Path, typer.Argument(help="weights: .pt, .safetensors export, Hugging Face snapshot …")],
    inputs: Annotated[
        str,
        typer.Option(
            "--inputs",
            "-i",
            help="comma-separated: ones | zeros | random:SEED | image files (bus.jpg and zidane.jpg: ultralytics' "
            "own photos when no such file exists) | a folder of images | dumps whose input tensor to reuse",
        ),
    ] = DEFAULT_INPUTS,
    imgsz: Imgsz = 640,
    square: Square = False,
    depth: Depth = "1",
    with_inputs: Annotated[
        bool,
        typer.Option(
            "--with-inputs",
            help="also record each module's input as <path>@input: what a port feeds each module alone to write "
            "its isolated dump (diff --isolated)",
        ),
    ] = False,
    detections_only: Annotated[
        bool,
        typer.Option("--detections-only", help="dump only input, model.23 and detections: the reference side of `val`"),
    ] = False,
    floors: Floors = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "-o", "--out", help="the folder to write (default: beside MODEL, stem + .golden)", show_default=False
        ),
    ] = None,
    threads: Threads = None,
):
    """Write a golden set: one ultralytics reference dump per input, each with its noise floor, and index.json.

    Dumps are named by input (ones.safetensors, random-0.safetensors, bus.safetensors); index.json records the
    weights' sha256, the ultralytics and torch versions, imgsz, depth and, per input, each key's shape and floor.
    A candidate folder with the same file names is then judged with `yolo10port diff GOLDEN CANDIDATES`, which
    needs only the light install and checks every dump against the index's sha256. An earlier golden set at the
    same place is replaced whole, once all is written, but only if it holds nothing else: a folder with any other
    file is refused.
    With --with-inputs each dump also holds every module's recorded input (`<path>@input`), which a port feeds to
    each module alone to write its isolated dumps (`yolo10port diff GOLDEN CANDIDATES --isolated ISOLATED`).

    [b]Examples:[/] yolo10port golden yolov10s.pt --inputs ones,random:0,bus.jpg --square -o golden/
              yolo10port golden yolov10s.pt --inputs val-images/ --detections-only -o val.golden/
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.compare.precision import parse_floors
    from yolo10port.workflows.golden import check_destination, make_golden, parse_inputs

    spec = run_spec(imgsz=imgsz, square=square, depth=depth, with_inputs=with_inputs)
    wanted = parse_inputs(inputs)
    out = out or beside(existing(model), ".golden")
    sources = [model, *(Path(item.source) for item in wanted)]
    guard_outputs({}, sources, folders={"-o": out})  # before torch is imported, and so is the next line
    check_destination(out, *sources)  # replaces only a golden set it can prove it wrote; make_golden checks again

    def progress(line: str) -> None:
        err_console.print(line, highlight=False, markup=False)

    folder = make_golden(existing(model), out, wanted, spec, progress, detections_only, parse_floors(floors))
    dumps = f"{len(wanted)} dump" + ("s" if len(wanted) > 1 else "")
    out_console.print(f"golden set → {literal(folder)} ({dumps} and {GOLDEN_INDEX})", highlight=False)
