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
    Floors,
    Imgsz,
    Input,
    Square,
    Tf32,
    Threads,
    beside,
    check_device,
    existing,
    one_of,
    run_spec,
)
from yolo10port.errors import InputError
from yolo10port.shown import literal

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
    threads: Threads = None,
    floor: Annotated[
        bool, typer.Option("--floor/--no-floor", help="also run in float64 and record each row's noise floor")
    ] = True,
    with_inputs: Annotated[
        bool, typer.Option("--with-inputs", help="also record each module's input as <path>@input")
    ] = False,
    summary: Annotated[Path | None, typer.Option(help="also write per-layer statistics as JSON")] = None,
    floors: Floors = None,
    out: OutDump = None,
):
    """Dump per-layer outputs of the real ultralytics network (one-to-one head pinned), with its noise floor.

    Default output: MODEL's folder, MODEL stem + .reference.safetensors.

    [b]Example:[/] yolo10port dump yolov10s.pt --input bus.jpg --depth all -o ref.safetensors
              yolo10port dump yolov10s.pt --input bus.jpg --floors float16,bfloat16,tf32
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.compare.precision import parse_floors
    from yolo10port.dumps.spec import REFERENCE_DTYPES

    precisions = parse_floors(floors)
    one_of("--dtype", dtype, REFERENCE_DTYPES)
    spec = run_spec(input, imgsz, batch, square, depth, dtype, device, with_inputs=with_inputs)
    check_device(device)
    out = out or beside(model, ".reference.safetensors")
    outputs = guard_outputs({"-o": out, "--summary": summary}, [model, input])
    from yolo10port.weights.reader import read_weights

    weights = read_weights(existing(model))  # before the reference's imports: a refused file costs no torch import
    from yolo10port.reference.dump import dump_reference

    running = "running ultralytics with forward hooks" + (" (float32, then float64)…" if floor else "…")
    with outputs, err_console.status(running):  # the dump and its summary are renamed into place together
        path = dump_reference(weights, out, spec, fuse=fuse, summary=summary, floor=floor, floors=precisions)
    out_console.print(
        f"reference dump → {literal(path)}" + (f"\nsummary → {literal(summary)}" if summary else ""), highlight=False
    )


@app.command()
@command
def run(
    weights: Annotated[
        Path,
        typer.Argument(
            help="weights for the clean model, an .onnx graph, an OpenVINO .xml (IR), an ncnn model folder, a .tflite"
        ),
    ],
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    square: Square = False,
    depth: Depth = "1",
    dtype: Annotated[str, typer.Option(help="float32 | float64 | float16 | bfloat16 (clean model)")] = "float32",
    fuse: Annotated[bool, typer.Option("--fuse/--no-fuse", help="clean model: fold BN and RepVGGDW first")] = False,
    runtime: Annotated[
        str,
        typer.Option(
            help="onnxruntime | openvino (.onnx; an .xml IR is always openvino), ncnn (_ncnn_model/ or .param), "
            "litert (.tflite)"
        ),
    ] = "onnxruntime",
    runtime_option: Annotated[
        list[str] | None,
        typer.Option(help="ncnn/litert option KEY=VALUE, repeatable (e.g. use_winograd_convolution=false)"),
    ] = None,
    device: Device = "cpu",
    threads: Threads = None,
    tf32: Tf32 = False,
    scale: Annotated[str | None, typer.Option(help="insist on a scale (default: from the weights)")] = None,
    nc: Annotated[int | None, typer.Option(help="insist on a class count (default: from the weights)")] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="compute in: float16 | bfloat16 (the clean model's dtype; OpenVINO's hint; ONNX Runtime: float16 "
            "converts the graph) | tf32 (CUDA's flag; emulated on a CPU) | winograd | winograd-f43 (3×3 convs by "
            "Winograd; clean model); recorded as the dump's precision",
            show_default=False,
        ),
    ] = None,
    out: OutDump = None,
):
    """Dump per-layer outputs of a candidate: the clean model, an ONNX graph under ONNX Runtime or OpenVINO, or an
    OpenVINO IR (.xml, its .bin beside it; float or NNCF's FakeQuantize INT8) under OpenVINO.

    Same keys, hooks and format as `dump`; an ONNX graph's node outputs are mapped back to module paths.
    Default output: beside the input, stem + .clean.safetensors (or .onnxruntime / .openvino.safetensors).

    [b]Examples:[/] yolo10port run yolov10s.safetensors -o clean.safetensors
              yolo10port run yolov10s.onnx --runtime openvino --input ref.safetensors
              yolo10port run yolov10s_int8_openvino_model/yolov10s.xml --input bus.jpg --square
              yolo10port run yolov10s_ncnn_model --runtime ncnn --runtime-option use_winograd_convolution=false
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.dumps.spec import CANDIDATE_DTYPES

    one_of("--dtype", dtype, CANDIDATE_DTYPES)
    one_of("--runtime", runtime, ("onnxruntime", "openvino", "ncnn", "litert"))
    spec = run_spec(input, imgsz, batch, square, depth, dtype, device, tf32)
    if weights.suffix == ".xml":  # an OpenVINO IR: only OpenVINO reads one, whatever --runtime says
        runtime = "openvino"
    if runtime in ("ncnn", "litert"):
        from yolo10port.candidates import run_file_candidate

        out = out or beside(weights, f".{runtime}.safetensors")
        guard_outputs({"-o": out}, [weights, input])
        candidate = run_file_candidate(existing(weights), runtime, runtime_option or [])
        with err_console.status(f"running {literal(candidate.label)} with every layer as an output…"):
            path = candidate.dump(out, spec)
        for line in candidate.notes:
            err_console.print(f"[yellow]note:[/] {literal(line)}", highlight=False)
        out_console.print(f"candidate dump → {literal(path)}", highlight=False)
        return
    if runtime_option:
        raise InputError("--runtime-option", f"applies to --runtime ncnn or litert, not {runtime}")
    is_graph = weights.suffix in (".onnx", ".xml")
    if precision is not None:
        from yolo10port.workflows.precision import asked_precision

        precision, spec = asked_precision(precision, spec, "graph" if is_graph else "clean")
    out = out or beside(weights, f".{runtime if is_graph else 'clean'}.safetensors")
    guard_outputs({"-o": out}, [weights, input])
    existing(weights)
    if is_graph:
        from yolo10port.candidates.graph import GraphCandidate
        from yolo10port.candidates.openvino_ir import IrCandidate

        opened = dict(device=device, spec=spec, precision=precision or "float32")
        if weights.suffix == ".xml":
            candidate = IrCandidate.open_ir(weights, **opened)
        else:
            candidate = GraphCandidate.open(weights, runtime, **opened)
        with err_console.status(f"running {candidate.label} with every layer as an output…"):
            path = candidate.dump(out, spec)
        for line in candidate.notes:
            err_console.print(f"[yellow]note:[/] {literal(line)}", highlight=False)
    else:
        check_device(device)
        from yolo10port.weights.reader import read_weights

        weights = read_weights(weights)  # before the model's imports: a refused file costs no torch import
        from yolo10port.candidates.clean import dump_clean

        with err_console.status("running the clean model with forward hooks…"):
            arithmetic = {"winograd": "winograd", "winograd-f43": "winograd-f43"}.get(precision or "")
            if precision == "tf32" and not spec.tf32:
                arithmetic = "tf32-emulated"
            path = dump_clean(weights, out, spec, fuse=fuse, scale=scale, nc=nc, arithmetic=arithmetic)
    out_console.print(f"candidate dump → {literal(path)}", highlight=False)
