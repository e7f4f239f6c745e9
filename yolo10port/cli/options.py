"""Option types and checks shared by the commands (like Polygraphy's argument groups): one definition each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.errors import InputError

Input = Annotated[
    str,
    typer.Option(
        "--input",
        "-i",
        help="ones | zeros | random:SEED | an image file | a dump (.safetensors) whose input tensor to reuse",
    ),
]
Imgsz = Annotated[int, typer.Option(help="input size, a multiple of 32")]
Batch = Annotated[int, typer.Option(help="batch size")]
Square = Annotated[
    bool,
    typer.Option("--square", help="images: letterbox to the full imgsz square (what a static-shape export takes)"),
]
Depth = Annotated[str, typer.Option(help="1 = model.0…model.23; 2, 3… = submodules; all = every module")]
Layer = Annotated[
    str | None, typer.Option("--layer", "-l", help="0..23 | 3,10,22 | model.10.attn (23 = model.23/* and detections)")
]
Format = Annotated[
    str, typer.Option("--format", "-f", help="table | json | markdown | github | junit | model-explorer")
]
Device = Annotated[str, typer.Option(help="cpu | cuda | cuda:N")]
Tf32 = Annotated[bool, typer.Option("--tf32", help="allow TensorFloat-32 on CUDA (candidates only; recorded)")]
Tol = Annotated[
    str | None,
    typer.Option(
        help="floor: K × the reference's noise floor (default) | fixed: atol + rtol · max|ref| "
        "(the default when --atol or --rtol is given)",
        show_default=False,
    ),
]


def _threads_callback(value: int | None) -> int | None:
    from yolo10port.threads import use_threads

    if value is not None and value < 1:
        raise typer.BadParameter(f"{value} is not a positive number of threads")
    use_threads(value)
    return value


Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="threads for torch, ONNX Runtime and OpenVINO (default: OMP_NUM_THREADS, else the cores this process "
        "may use); on a shared CI runner set 1, or the cores reserved for the job",
        callback=_threads_callback,
        show_default=False,
    ),
]
Floors = Annotated[
    str | None,
    typer.Option(
        help="also record the noise floor of these precisions: float16,bfloat16,tf32,winograd (each one more run "
        "of the network; README, Reduced precision)",
        show_default=False,
    ),
]
Precision = Annotated[
    str | None,
    typer.Option(
        help="judge by the reference's floor of this precision: float32 | float16 | bfloat16 | tf32 | winograd "
        "(default: what the candidate's metadata declares)",
        show_default=False,
    ),
]
Require = Annotated[
    str | None,
    typer.Option(help="keys the candidate must hold: all, or KEY,… (globs allowed); missing ones then fail"),
]


def one_of(option: str, value: str, allowed) -> None:
    if value not in allowed:
        raise InputError(option, f"{value!r} is not one of {', '.join(allowed)}")


def existing(path: Path) -> Path:
    from yolo10port.weights.hf import is_hf_reference

    if is_hf_reference(path):
        return path  # hf:OWNER/NAME: resolved in the local cache by the weights reader, which says where it looked
    if not path.exists():
        raise InputError(path, "no such file")
    return path


def beside(source: Path, suffix: str) -> Path:
    """The default output rule, the same for every command: next to the file it was made from, so it works from
    any directory (`yolov10s.pt` → `yolov10s.reference.safetensors` in the .pt's folder)."""
    from yolo10port.weights.hf import default_output

    return default_output(source, suffix)  # a Hugging Face snapshot: beside its folder, or here if it is cached


def run_spec(
    input: str = "ones",
    imgsz: int = 640,
    batch: int = 1,
    square: bool = False,
    depth: str = "1",
    dtype: str = "float32",
    device: str = "cpu",
    tf32: bool = False,
    with_inputs: bool = False,
):
    """The RunSpec the options describe, checked (exit 2 on a bad value) before anything runs."""
    from yolo10port.dumps.input_source import check_input_source
    from yolo10port.dumps.spec import RunSpec, parse_depth, resolve_input

    check_input_source(resolve_input(input))  # a bad seed, a FIFO, an unusable dump: before any network is built

    return RunSpec(
        input=resolve_input(input),  # one resolver for every command: `bus.jpg` is ultralytics' photo if not here
        imgsz=imgsz,
        batch=batch,
        square=square,
        depth=parse_depth(depth),
        dtype=dtype,
        device=device,
        tf32=tf32,
        with_inputs=with_inputs,
    )


def check_device(device: str) -> None:
    """`--device` is checked before anything is written: no CUDA here → exit 2, one line, no file."""
    if device == "cpu":
        return
    from yolo10port.dumps.device import torch_device

    torch_device(device)
