"""`yolo10port onnx`: export the one-to-one head to ONNX with ultralytics' exporter, then prove the file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console, out_console
from yolo10port.cli.options import Imgsz, Threads, beside, existing
from yolo10port.shown import literal


@app.command()
@command
def onnx(
    model: Annotated[Path, typer.Argument(help="weights: ultralytics .pt, .safetensors export, …")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="default: beside MODEL, with .onnx", show_default=False)
    ] = None,
    imgsz: Imgsz = 640,
    opset: Annotated[
        int | None, typer.Option(help="ONNX opset (default: ultralytics' choice for the installed torch)")
    ] = None,
    dynamic: Annotated[
        bool, typer.Option("--dynamic/--static", help="free batch and image size, or fixed 1×3×imgsz×imgsz")
    ] = False,
    simplify: Annotated[
        bool, typer.Option("--simplify/--no-simplify", help="simplify with onnxslim, as ultralytics does")
    ] = True,
    threads: Threads = None,
):
    """Export YOLOv10's one-to-one (NMS-free) head to ONNX, then check the file with ONNX Runtime.

    ultralytics' own exporter with nms=False, driven with the network built from the safely read weights; node
    names keep the module paths, so `run`, `check --candidate` and the error table map every value to its layer.
    The file is then run against the reference on random:0: exit 1 if any layer breaches tolerance.

    [b]Example:[/] yolo10port onnx yolov10s.pt -o yolov10s.onnx --imgsz 640 --dynamic
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.reference.onnx_export import check_opset

    check_imgsz(imgsz)
    check_opset(opset)
    out = out or beside(model, ".onnx")
    guard_outputs({"-o": out}, [existing(model)])
    from yolo10port.compare.report import verdict
    from yolo10port.reference.onnx_export import export_onnx, verify_onnx
    from yolo10port.weights.reader import read_weights

    weights = read_weights(model)
    with err_console.status("exporting with ultralytics' exporter (nms=False: the one-to-one head)…"):
        path = export_onnx(weights, out, imgsz=imgsz, opset=opset, dynamic=dynamic, simplify=simplify)
    out_console.print(f"ONNX graph → {literal(path)}", highlight=False)
    with err_console.status("checking it: ONNX Runtime against the ultralytics reference on random:0…"):
        report = verify_onnx(weights, path, imgsz)
    out_console.print(
        f"ONNX Runtime vs ultralytics on random:0 at {imgsz}: {literal(verdict(report))}", highlight=False
    )
    if not report.passed:
        err_console.print(
            f"[red]the graph breaches tolerance[/]: kept at {literal(path)} to inspect "
            f"(yolo10port check {literal(model)} --candidate {literal(path)} --drill)",
            highlight=False,
        )
    raise typer.Exit(EXIT_PASS if report.passed else EXIT_BREACH)
