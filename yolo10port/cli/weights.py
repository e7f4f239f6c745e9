"""Commands on weights files: export, inspect, fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import app, command, err_console, out_console
from yolo10port.cli.options import existing, one_of
from yolo10port.errors import InputError


@app.command()
@command
def export(
    model: Annotated[Path, typer.Argument(help="weights: ultralytics .pt, Hugging Face snapshot, state dict …")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="default: beside MODEL, with .safetensors", show_default=False)
    ] = None,
    dtype: Annotated[str, typer.Option(help="keep (bit-identical) | float32 | float16")] = "keep",
):
    """Export weights to safetensors with ultralytics' key names, plus a manifest and the module tree.

    [b]Example:[/] yolo10port export yolov10s.pt -o yolov10s.safetensors
    """
    from yolo10port.weights.export import export_weights

    result = export_weights(existing(model), out, dtype)
    w = result.weights
    out_console.print(
        f"exported {result.tensors} tensors of YOLOv10-{w.scale} (nc={w.nc}, "
        f"{'fused' if w.fused else 'unfused'}, written {result.written_dtype}"
        + (f", read as {w.storage_dtype}" if w.storage_dtype != result.written_dtype else "")
        + f") → {result.out}",
        highlight=False,
    )
    out_console.print(f"manifest → {result.manifest}\nmodule tree → {result.modules}", highlight=False)
    if result.nonfinite:
        err_console.print(
            f"[yellow]warning:[/] {len(result.nonfinite)} tensors hold NaN/Inf, e.g. "
            f"{result.nonfinite[0]} (recorded in the metadata)"
        )


@app.command()
@command
def inspect(file: Annotated[Path, typer.Argument(help="weights file (.pt, .safetensors export, …)")]):
    """Summarise a weights file: scale, classes, parameters, dtype, fused, and a layer table.

    [b]Example:[/] yolo10port inspect yolov10s.pt
    """
    from rich.table import Table

    from yolo10port.workflows.inspect import inspect_weights

    info = inspect_weights(existing(file))
    w = info.weights
    out_console.print(
        f"[b]{file}[/]: YOLOv10-{w.scale}, nc={w.nc}, {info.parameters:,} parameters, "
        f"stored {w.storage_dtype}, {'fused' if w.fused else 'unfused'}, saved by {w.saved_by}"
        + (f" on {w.saved_on}" if w.saved_on else ""),
        highlight=False,
    )
    table = Table("index", "module", "parameters", "output shape at 640")
    for layer in info.layers:
        table.add_row(str(layer.index), layer.type, f"{layer.parameters:,}", "×".join(map(str, layer.output_shape)))
    out_console.print(table)


@app.command()
@command
def fixture(
    scale: Annotated[str, typer.Option(help="n | s | m | b | l | x")],
    out: Annotated[Path, typer.Option("-o", "--out", help="where to write the .pt")],
    nc: Annotated[int, typer.Option(help="number of classes")] = 80,
    seed: Annotated[int, typer.Option(help="weight seed; same arguments → identical tensors")] = 0,
    fused: Annotated[bool, typer.Option("--fused", help="save fused, one-to-one head pinned")] = False,
):
    """Build a calibrated test checkpoint from ultralytics' bundled yaml (no download needed).

    [b]Example:[/] yolo10port fixture --scale s -o yolov10s-fixture.pt
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.model.scales import SCALES
    from yolo10port.reference.fixture import build_fixture

    one_of("--scale", scale, SCALES)
    if nc < 1:
        raise InputError("--nc", f"{nc} is not a positive number of classes")
    check_output_path(out)
    with err_console.status(f"building YOLOv10-{scale} and calibrating BatchNorm…"):
        build_fixture(scale, out, nc=nc, seed=seed, fused=fused)
    out_console.print(
        f"fixture YOLOv10-{scale} nc={nc} seed={seed}{' fused' if fused else ''} → {out}", highlight=False
    )
