"""Commands on weights files: export, inspect, fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import app, command, err_console, out_console
from yolo10port.cli.options import Threads, existing, one_of
from yolo10port.errors import InputError
from yolo10port.shown import literal


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
    from yolo10port.cli.files import guard_outputs
    from yolo10port.cli.options import beside
    from yolo10port.formats import sidecar_paths

    out = out or beside(existing(model), ".safetensors")
    manifest, modules = sidecar_paths(out)
    # before torch is imported; export_weights checks the same again (it is a library call too)
    guard_outputs({"-o": out, "manifest (beside -o)": manifest, "module tree (beside -o)": modules}, [model])
    from yolo10port.weights.export import export_weights

    result = export_weights(existing(model), out, dtype)
    w = result.weights
    out_console.print(
        f"exported {result.tensors} tensors of YOLOv10-{w.scale} (nc={w.nc}, "
        f"{'fused' if w.fused else 'unfused'}, written {result.written_dtype}"
        + (f", read as {w.storage_dtype}" if w.storage_dtype != result.written_dtype else "")
        + f") → {literal(result.out)}",
        highlight=False,
    )
    out_console.print(
        f"manifest → {literal(result.manifest)}\nmodule tree → {literal(result.modules)}", highlight=False
    )
    if result.nonfinite:
        err_console.print(
            f"[yellow]warning:[/] {len(result.nonfinite)} tensors hold NaN/Inf, e.g. "
            f"{literal(result.nonfinite[0])} (recorded in the metadata)"
        )


@app.command()
@command
def inspect(
    file: Annotated[
        str,
        typer.Argument(
            help="weights (.pt, .safetensors, state dict, Hugging Face snapshot folder or hf:OWNER/NAME), a dump, "
            "or a golden folder",
            show_default=False,
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    imgsz: Annotated[int, typer.Option(help="input size for output shapes and GFLOPs, a multiple of 32")] = 640,
    scale: Annotated[str | None, typer.Option(help="insist on a scale (default: from the weights)")] = None,
    nc: Annotated[int | None, typer.Option(help="insist on a class count (default: from the weights)")] = None,
):
    """Summarise weights (scale, classes, stored tensors, the paper's parameters and GFLOPs, a layer table), a dump
    (its metadata, noise floor, keys and shapes) or a golden folder (its index, inputs, keys, and whether each dump
    is intact: exit 1 when one is missing or changed); dumps and golden folders need only numpy and safetensors.

    [b]Examples:[/] yolo10port inspect yolov10s.pt
              yolo10port inspect hf:jameslahm/yolov10s --format json
              yolo10port inspect reference.safetensors
              yolo10port inspect golden/
    """
    import json
    import sys

    from yolo10port.workflows.inspect import DumpInspection, inspect_file

    one_of("--format", format, ("table", "json"))
    if scale is not None:
        one_of("--scale", scale, ("n", "s", "m", "b", "l", "x"))  # spelled out: model.scales costs the torch import
    from yolo10port.workflows.golden_inspect import is_golden_folder

    if is_golden_folder(file):  # a golden set: its index, inputs, keys and integrity (light install too)
        from yolo10port.cli.golden_view import show_golden

        raise typer.Exit(show_golden(file, format))
    info = inspect_file(file, imgsz=imgsz, scale=scale, nc=nc)
    if format == "json":
        sys.stdout.write(json.dumps(info.to_json(), indent=1) + "\n")
    elif isinstance(info, DumpInspection):
        _print_dump(file, info)
    else:
        _print_weights(file, info)


def _print_weights(file: str, info) -> None:
    from rich.table import Table

    from yolo10port.weights.cost import COUNTING

    w = info.weights
    names = list(w.names.values())
    shown_names = (
        (", ".join(map(literal, names[:3])) + (f", … ({len(names)})" if len(names) > 3 else "")) if names else "unknown"
    )
    saved = f"saved by {literal(w.saved_by)}" + (f" on {literal(w.saved_on)}" if w.saved_on else "")
    prefix = (
        ""
        if w.key_prefix is None
        else f"; keys were {literal(w.key_prefix)}0.conv.weight …, read as model.0.conv.weight …"
    )
    out_console.print(
        f"[b]{literal(file)}[/]: YOLOv10-{w.scale}, nc={w.nc} (names: {shown_names})\n"
        f"  {literal(w.form)}, stored {w.storage_dtype}, {'fused' if w.fused else 'unfused'}, {saved}{prefix}\n"
        f"  stored: {info.tensors} tensors, {info.params_total:,} parameters as torch counts them "
        f"(BatchNorm running statistics excluded)\n"
        f"  inference: {info.params_inference / 1e6:.1f}M parameters, {info.flops / 1e9:.1f} GFLOPs at "
        f"{info.imgsz}×{info.imgsz}, counted as the paper counts them\n"
        f"per layer, {COUNTING}; the columns sum to the totals:",
        highlight=False,
    )
    table = Table("index", "module", "parameters", f"GFLOPs at {info.imgsz}", f"output shape at {info.imgsz}")
    for row in info.layers:
        shape = "×".join(map(str, row.output_shape))
        table.add_row(str(row.index), row.type, f"{row.parameters:,}", f"{row.flops / 1e9:.3f}", shape)
    table.add_row("", "total", f"{info.params_inference:,}", f"{info.flops / 1e9:.3f}", "", style="bold")
    out_console.print(table)


def _print_dump(file: str, info) -> None:
    from rich.table import Table

    from yolo10port.workflows.inspect import JSON_METADATA, floor_summary

    meta = info.metadata
    out_console.print(
        f"[b]{literal(file)}[/]: {literal(meta.get('format'))} dump, {len(info.keys)} tensors", highlight=False
    )
    for entry, value in meta.items():
        if entry not in JSON_METADATA:
            out_console.print(f"  {literal(entry)}: {literal(value)}", highlight=False)
    floor = floor_summary(info.floors)
    out_console.print(
        "  noise floor: "
        + (
            f"{floor['rows']} rows, median {floor['median']:.2e}, max {floor['max']:.2e} at {literal(floor['max_at'])}"
            f" (per row: max|this run − {literal(meta.get('noise_floor_by') or 'a float64 run')}|)"
            if floor
            else "none recorded (diff judges this reference by the fixed atol/rtol rule)"
        ),
        highlight=False,
    )
    types = meta.get("module_types") if isinstance(meta.get("module_types"), dict) else {}
    table = Table("key", "type", "shape", "dtype", "noise floor")
    for key in info.keys:
        floor_text = ", ".join(
            f"{value:.2e}" if row == key.key else f"{literal(row.rpartition('/')[2])} {value:.2e}"
            for row, value in key.floors.items()
        )
        table.add_row(
            literal(key.key), literal(types.get(key.key, "")), "×".join(map(str, key.shape)), key.dtype, floor_text
        )
    out_console.print(table)


@app.command()
@command
def fixture(
    scale: Annotated[str, typer.Option(help="n | s | m | b | l | x")],
    out: Annotated[Path, typer.Option("-o", "--out", help="where to write the .pt")],
    nc: Annotated[int, typer.Option(help="number of classes")] = 80,
    seed: Annotated[int, typer.Option(help="weight seed; same arguments → identical tensors")] = 0,
    fused: Annotated[bool, typer.Option("--fused", help="save fused, one-to-one head pinned")] = False,
    threads: Threads = None,
):
    """Build a calibrated test checkpoint from ultralytics' bundled yaml (no download needed).

    [b]Example:[/] yolo10port fixture --scale s -o yolov10s-fixture.pt
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.model.scales import SCALES
    from yolo10port.reference.fixture import build_fixture

    one_of("--scale", scale, SCALES)
    if nc < 1:
        raise InputError("--nc", f"{nc} is not a positive number of classes")
    guard_outputs({"-o": out})
    with err_console.status(f"building YOLOv10-{scale} and calibrating BatchNorm…"):
        build_fixture(scale, out, nc=nc, seed=seed, fused=fused)
    out_console.print(
        f"fixture YOLOv10-{scale} nc={nc} seed={seed}{' fused' if fused else ''} → {literal(out)}", highlight=False
    )
