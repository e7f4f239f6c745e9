"""`yolo10port ncnn`: export the one-to-one head to ncnn through pnnx (as ultralytics does), then prove the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console, out_console
from yolo10port.cli.options import Imgsz, existing


@app.command()
@command
def ncnn(
    model: Annotated[Path, typer.Argument(help="weights: ultralytics .pt, .safetensors export, …")],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="the folder to write (default: beside MODEL, stem + _ncnn_model)"),
    ] = None,
    imgsz: Imgsz = 640,
):
    """Export YOLOv10's one-to-one (NMS-free) head to ncnn through pnnx, then check the folder with ncnn.

    ultralytics' own ncnn export drops YOLOv10's one-to-one head (ncnn has no top-k) and writes the one-to-many
    head, made for NMS. This one traces the network built from the safely read weights with the head returning its
    decoded prediction (4 + nc rows per anchor, top-k left to the host), converts it with pnnx as ultralytics does,
    and writes model.ncnn.param, model.ncnn.bin and metadata.yaml. The folder is then run by ncnn (Winograd off:
    proving the file, not the kernel) against the reference on random:0: exit 1 if any layer breaches tolerance.

    [b]Example:[/] yolo10port ncnn yolov10s.pt -o yolov10s_ncnn_model --imgsz 640
    """
    from yolo10port.dumps.spec import check_imgsz

    check_imgsz(imgsz)
    source = existing(model)
    out = out or source.with_name(f"{source.name.removesuffix('.safetensors').removesuffix('.pt')}_ncnn_model")
    from yolo10port.reference.ncnn_export import check_output_folder

    check_output_folder(out)
    from yolo10port.compare.report import verdict
    from yolo10port.reference.ncnn_export import export_ncnn, verify_ncnn
    from yolo10port.weights.reader import read_weights

    weights = read_weights(model)
    with err_console.status("exporting through pnnx (the one-to-one head, decoded, top-k left to the host)…"):
        path = export_ncnn(weights, out, imgsz=imgsz)
    out_console.print(f"ncnn model → {path}", highlight=False)
    with err_console.status("checking it: ncnn against the ultralytics reference on random:0…"):
        report = verify_ncnn(weights, path, imgsz)
    out_console.print(f"ncnn (Winograd off) vs ultralytics on random:0 at {imgsz}: {verdict(report)}", highlight=False)
    if not report.passed:
        err_console.print(
            f"[red]the ncnn model breaches tolerance[/]: kept at {path} to inspect "
            f"(yolo10port check {model} --candidate {path} --drill)",
            highlight=False,
        )
    raise typer.Exit(EXIT_PASS if report.passed else EXIT_BREACH)
