"""`yolo10port check`: export → reference dump → candidate → diff → table → exit code, for one model or all six."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console
from yolo10port.cli.diff import OutReport, check_format, emit
from yolo10port.cli.options import (
    Batch,
    Device,
    Format,
    Imgsz,
    Input,
    Layer,
    Require,
    Square,
    Tf32,
    Threads,
    Tol,
    check_device,
    existing,
    one_of,
    run_spec,
)
from yolo10port.cli.tolerance_options import AtolOption, KMeanOption, KOption, RtolOption
from yolo10port.errors import InputError


@app.command()
@command
def check(
    model: Annotated[Path | None, typer.Argument(help="weights: .pt, Hugging Face snapshot, .safetensors …")] = None,
    candidate: Annotated[
        str,
        typer.Option(
            help="clean | onnxruntime | openvino | ncnn (exported) | PATH.onnx | PATH.xml (OpenVINO IR) | ncnn folder "
            "| PATH.tflite"
        ),
    ] = "clean",
    runtime_option: Annotated[
        list[str] | None, typer.Option(help="ncnn option KEY=VALUE, repeatable (e.g. use_winograd_convolution=false)")
    ] = None,
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    square: Square = False,
    layer: Layer = None,
    fuse: Annotated[bool, typer.Option("--fuse", help="run the clean model fused")] = False,
    dtype: Annotated[str, typer.Option(help="the candidate's dtype: float32 | float64 | float16 | bfloat16")] = (
        "float32"
    ),
    device: Device = "cpu",
    threads: Threads = None,
    tf32: Tf32 = False,
    tol: Tol = None,
    k: KOption = None,
    k_mean: KMeanOption = None,
    atol: AtolOption = None,
    rtol: RtolOption = None,
    tolerances: Annotated[Path | None, typer.Option(help="TOML file with per-layer overrides")] = None,
    require: Require = None,
    drill: Annotated[bool, typer.Option("--drill", help="on failure, name the first wrong module inside")] = False,
    e2e: Annotated[
        bool, typer.Option("--e2e", help="also match final boxes against ultralytics' predictor (image input)")
    ] = False,
    format: Format = "table",
    out: OutReport = None,
    workdir: Annotated[Path | None, typer.Option(help="keep the export and dumps here")] = None,
    all_scales: Annotated[bool, typer.Option("--all-scales", help="build the six fixtures and check each")] = False,
    precision: Annotated[
        str | None,
        typer.Option(
            help="the candidate computes in float16 | bfloat16 | tf32 | winograd | winograd-f43 and is judged by "
            "the reference's floor of the precision it records (OpenVINO: the hint, read back)",
            show_default=False,
        ),
    ] = None,
):
    """The whole porting check: export, reference dump, candidate run, diff, table, exit code.

    Besides each layer's chained error, the table shows its isolated error (the candidate's module fed the
    reference's recorded inputs): high isolated error = this module is wrong; high chained but low isolated =
    inherited.

    [b]Examples:[/] yolo10port check yolov10s.pt --input bus.jpg --drill
              yolo10port check yolov10s.pt --candidate onnxruntime --input random:0
              yolo10port check --all-scales --format junit -o all.xml
              yolo10port check yolov10s.pt --precision float16 --input bus.jpg
    """
    from yolo10port.cli.files import guard_outputs
    from yolo10port.compare import load_tolerances
    from yolo10port.dumps.spec import CANDIDATE_DTYPES

    check_format(format)
    one_of("--dtype", dtype, CANDIDATE_DTYPES)
    spec = run_spec(input, imgsz, batch, square, "1", dtype, device, tf32)
    rules = load_tolerances(tolerances, atol, rtol, mode=tol, k=k, k_mean=k_mean)
    check_device(device)
    if e2e and not Path(spec.input).is_file():
        raise InputError("--e2e", f"needs an image file as --input, not {input!r}")
    if e2e and not all_scales:
        from yolo10port.workflows.e2e import refuse_static_graph

        refuse_static_graph(candidate, input, imgsz)
    if all_scales and model is not None:
        raise InputError("MODEL", "give either a checkpoint or --all-scales, not both")
    if not all_scales and model is None:
        raise InputError("MODEL", "give a checkpoint, or --all-scales to check the six built-in fixtures")
    if workdir is not None and workdir.exists() and not workdir.is_dir():
        raise InputError(workdir, "--workdir is a file, not a folder")
    guard_outputs({"-o": out, **_workdir_files(model, workdir)}, [model, input, tolerances])
    options = {"layers": layer, "fuse": fuse, "tolerances": rules, "drill": drill, "candidate": candidate}
    options["require"] = require
    if runtime_option:
        options["runtime_options"] = runtime_option
    if precision is not None:
        from yolo10port.workflows.precision import asked_precision

        asked_precision(precision, spec, candidate)  # a bad name or a contradiction: exit 2 before any work
        options["precision"] = precision
    if all_scales:
        result = _all_scales(spec, options, workdir, e2e, spec.input, imgsz)
    else:
        result = _one(existing(model), spec, options, workdir, e2e, spec.input, imgsz)
    emit(result, format, out)
    if input == "ones":
        err_console.print(
            "[yellow]note:[/] the all-ones input has identical colour channels and a flat image; "
            "also check with --input random:0 or an image."
        )
    raise typer.Exit(EXIT_PASS if result.passed else EXIT_BREACH)


def _workdir_files(model: Path | None, workdir: Path | None) -> dict[str, Path]:
    """What `check` writes into an existing --workdir (workflows/check.py names them so), to be checked against
    the inputs like any output: `--input work/n.reference.safetensors --workdir work` would overwrite its input."""
    if model is None or workdir is None or not workdir.is_dir():
        return {}
    stem = model.name.removesuffix(".safetensors").removesuffix(".pt") or "model"
    names = (f"{stem}.safetensors", f"{stem}.reference.safetensors", f"{stem}.candidate.safetensors")
    return {f"--workdir ({name})": workdir / name for name in names}


def _one(model: Path, spec, options: dict, workdir: Path | None, e2e: bool, image: str, imgsz: int):
    """One model's check as a one-entry ReportSet when --e2e adds a fact outside the diff, else its Report."""
    from yolo10port.workflows.check import run_check

    with err_console.status("checking…") as status:
        result = run_check(model, workdir, spec, progress=lambda step: status.update(f"{step}…"), **options)
    _timing(result.seconds)
    if not e2e:
        return result.report
    from yolo10port.compare.sets import ReportSet

    many = ReportSet(f"check of {model.name}", {model.name: result.report})
    _end_to_end(many, model.name, model, image, imgsz, result.port)
    return many


def _all_scales(spec, options: dict, workdir: Path | None, e2e: bool, image: str, imgsz: int):
    from yolo10port.compare.sets import ReportSet
    from yolo10port.model.scales import SCALES
    from yolo10port.reference.fixture import cached_fixture, fixture_cache
    from yolo10port.workflows.check import run_check

    fixtures = workdir or fixture_cache()
    fixtures.mkdir(parents=True, exist_ok=True)
    many = ReportSet("check --all-scales")
    for scale in SCALES:
        with err_console.status(f"YOLOv10-{scale}: building fixture…") as status:
            path = cached_fixture(scale, fixtures)
            result = run_check(
                path,
                workdir / scale if workdir else None,
                spec,
                progress=lambda step, s=scale: status.update(f"YOLOv10-{s}: {step}…"),
                **options,
            )
        many.reports[f"YOLOv10-{scale}"] = result.report
        err_console.print(f"YOLOv10-{scale}: {'PASS' if result.report.passed else 'FAIL'}", highlight=False)
        if e2e:
            _end_to_end(many, f"YOLOv10-{scale}", path, image, imgsz, result.port)
    return many


def _timing(seconds: dict[str, float]) -> None:
    err_console.print("[dim]" + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()) + "[/]", highlight=False)


def _end_to_end(many, name: str, model: Path, image: str, imgsz: int, port=None) -> None:
    """Add the end-to-end match of ultralytics' predictor against the candidate `check` ran (`port`) to the set
    (a fact of the document, not stdout)."""
    from yolo10port.workflows.e2e import run_e2e

    with err_console.status("end to end: ultralytics' predictor and the candidate on the image…"):
        result = run_e2e(model, image, imgsz, candidate=port)
    m = result.match
    ok = m.passed and result.input_identical
    line = (
        f"end to end on {Path(image).name} (original-image pixels, {result.candidate}): {m.matched}/{m.total} "
        "boxes matched"
        + (f" (+{m.at_cut} at the top-k cut)" if m.at_cut else "")
        + f", worst IoU {m.worst_iou:.7f}, worst Δscore {m.worst_score_diff:.1e}; preprocessed input "
        + ("identical" if result.input_identical else "DIFFERS")
        + f" — {'PASS' if ok else 'FAIL ' + m.reason}"
    )
    many.extra[f"{name} end to end"] = {"line": line, "pass": ok, "match": m.to_dict()}
    if not ok:
        many.failed_extra.append(f"{name} end to end")
