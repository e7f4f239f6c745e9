"""Commands that write dumps: `dump` (the ultralytics reference) and `run` (a candidate: clean model or ONNX graph)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import app, command, err_console, out_console
from yolo10port.cli.options import (
    Batch,
    Depth,
    Device,
    Imgsz,
    Input,
    Square,
    Tf32,
    beside,
    check_device,
    existing,
    one_of,
    run_spec,
)

OutDump = Annotated[
    Path | None,
    typer.Option("-o", "--out", help="the dump to write (default: beside the input file)", show_default=False),
]


@app.command()
@command
def dump(
    model: Annotated[Path, typer.Argument(help="weights: .pt, .safetensors export, Hugging Face snapshot …")],
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    square: Square = False,
    depth: Depth = "1",
    dtype: Annotated[str, typer.Option(help="float32 | float64")] = "float32",
    fuse: Annotated[bool, typer.Option("--fuse/--no-fuse", help="fuse Conv+BN first")] = False,
    device: Device = "cpu",
    floor: Annotated[
        bool, typer.Option("--floor/--no-floor", help="also run in float64 and record each row's noise floor")
    ] = True,
    with_inputs: Annotated[
        bool, typer.Option("--with-inputs", help="also record each module's input as <path>@input")
    ] = False,
    summary: Annotated[Path | None, typer.Option(help="also write per-layer statistics as JSON")] = None,
    out: OutDump = None,
):
    """Dump per-layer outputs of the real ultralytics network (one-to-one head pinned), with its noise floor.

    Default output: MODEL's folder, MODEL stem + .reference.safetensors.

    [b]Example:[/] yolo10port dump yolov10s.pt --input bus.jpg --depth all -o ref.safetensors
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.dumps.spec import REFERENCE_DTYPES

    one_of("--dtype", dtype, REFERENCE_DTYPES)
    spec = run_spec(input, imgsz, batch, square, depth, dtype, device, with_inputs=with_inputs)
    check_device(device)
    out = out or beside(model, ".reference.safetensors")
    outputs = guard_outputs({"-o": out, "--summary": summary}, [model, input])
    existing(model)
    from yolo10port.reference.dump import dump_reference

    running = "running ultralytics with forward hooks" + (" (float32, then float64)…" if floor else "…")
    with outputs, err_console.status(running):  # the dump and its summary are renamed into place together
        path = dump_reference(model, out, spec, fuse=fuse, summary=summary, floor=floor)
    out_console.print(f"reference dump → {path}" + (f"\nsummary → {summary}" if summary else ""), highlight=False)


@app.command()
@command
def run(
    weights: Annotated[Path, typer.Argument(help="weights for the clean model, or an .onnx graph")],
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    square: Square = False,
    depth: Depth = "1",
    dtype: Annotated[str, typer.Option(help="float32 | float64 | float16 | bfloat16 (clean model)")] = "float32",
    fuse: Annotated[bool, typer.Option("--fuse/--no-fuse", help="clean model: fold BN and RepVGGDW first")] = False,
    runtime: Annotated[str, typer.Option(help="for an .onnx graph: onnxruntime | openvino")] = "onnxruntime",
    device: Device = "cpu",
    tf32: Tf32 = False,
    scale: Annotated[str | None, typer.Option(help="insist on a scale (default: from the weights)")] = None,
    nc: Annotated[int | None, typer.Option(help="insist on a class count (default: from the weights)")] = None,
    out: OutDump = None,
):
    """Dump per-layer outputs of a candidate: the clean model, or an ONNX graph under ONNX Runtime or OpenVINO.

    Same keys, hooks and format as `dump`; an ONNX graph's node outputs are mapped back to module paths.
    Default output: beside the input, stem + .clean.safetensors (or .onnxruntime / .openvino.safetensors).

    [b]Examples:[/] yolo10port run yolov10s.safetensors -o clean.safetensors
              yolo10port run yolov10s.onnx --runtime openvino --input ref.safetensors
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.dumps.spec import CANDIDATE_DTYPES

    one_of("--dtype", dtype, CANDIDATE_DTYPES)
    one_of("--runtime", runtime, ("onnxruntime", "openvino"))
    spec = run_spec(input, imgsz, batch, square, depth, dtype, device, tf32)
    is_graph = weights.suffix == ".onnx"
    out = out or beside(weights, f".{runtime if is_graph else 'clean'}.safetensors")
    guard_outputs({"-o": out}, [weights, input])
    existing(weights)
    if is_graph:
        from yolo10port.candidates.graph import GraphCandidate

        candidate = GraphCandidate.open(weights, runtime, device=device)
        with err_console.status(f"running {candidate.label} with every layer as an output…"):
            path = candidate.dump(out, spec)
        for line in candidate.notes:
            err_console.print(f"[yellow]note:[/] {line}", highlight=False)
    else:
        check_device(device)
        from yolo10port.candidates.clean import dump_clean

        with err_console.status("running the clean model with forward hooks…"):
            path = dump_clean(weights, out, spec, fuse=fuse, scale=scale, nc=nc)
    out_console.print(f"candidate dump → {path}", highlight=False)
