"""The command line: parse, call the library, render, choose the exit code (0 pass, 1 parity breach, 2 input)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from yolo10port.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Port YOLOv10 out of ultralytics and prove the port right, layer by layer.",
)
# Not a terminal (CI logs, pipes): rich would wrap at 80 columns, too narrow for the error table.
out_console = Console(width=None if sys.stdout.isatty() else 170)
err_console = Console(stderr=True)

EXIT_PASS, EXIT_BREACH, EXIT_INPUT = 0, 1, 2


def command(func):
    """Expected failures → one red line on stderr and exit 2; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from yolo10port.model.loading import LoadError

        try:
            return func(*args, **kwargs)
        except InputError as error:
            err_console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        except LoadError as error:
            err_console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            err_console.print("[red]interrupted[/]: no output written")
            raise typer.Exit(130) from None
        raise typer.Exit(EXIT_INPUT)

    return wrapper


Input = Annotated[str, typer.Option("--input", "-i", help="ones | zeros | random:SEED | path to an image")]
Imgsz = Annotated[int, typer.Option(help="input size, a multiple of 32")]
Batch = Annotated[int, typer.Option(help="batch size")]
Depth = Annotated[str, typer.Option(help="1 = model.0…model.23; 2, 3… = submodules; all = every module")]
Layer = Annotated[str | None, typer.Option("--layer", "-l", help="0..23 | 3,10,22 | model.10.attn")]
Format = Annotated[str, typer.Option("--format", "-f", help="table | json | markdown | junit")]


def _existing(path: Path) -> Path:
    if not path.exists():
        raise InputError(path, "no such file")
    return path


@app.command()
@command
def export(
    model: Annotated[Path, typer.Argument(help="ultralytics .pt checkpoint")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="default: MODEL with .safetensors")] = None,
    dtype: Annotated[str, typer.Option(help="keep (bit-identical) | float32 | float16")] = "keep",
):
    """Export weights to safetensors with ultralytics' key names, plus a manifest and the module tree.

    [b]Example:[/] yolo10port export yolov10s.pt -o yolov10s.safetensors
    """
    from yolo10port.weights.export import export_weights

    result = export_weights(_existing(model), out, dtype)
    w = result.weights
    out_console.print(
        f"exported {result.tensors} tensors of YOLOv10-{w.scale} (nc={w.nc}, "
        f"{'fused' if w.fused else 'unfused'}, stored {w.storage_dtype}) → {result.out}"
    )
    out_console.print(f"manifest → {result.manifest}\nmodule tree → {result.modules}")
    if result.nonfinite:
        err_console.print(
            f"[yellow]warning:[/] {len(result.nonfinite)} tensors hold NaN/Inf, e.g. "
            f"{result.nonfinite[0]} (recorded in the metadata)"
        )


@app.command()
@command
def inspect(file: Annotated[Path, typer.Argument(help=".pt checkpoint or .safetensors export")]):
    """Summarise a weights file: scale, classes, parameters, dtype, fused, and a layer table.

    [b]Example:[/] yolo10port inspect yolov10s.pt
    """
    from rich.table import Table

    from yolo10port.inspection import inspect_weights

    info = inspect_weights(_existing(file))
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

    if scale not in SCALES:
        raise InputError("--scale", f"{scale!r} is not one of {', '.join(SCALES)}")
    if nc < 1:
        raise InputError("--nc", f"{nc} is not a positive number of classes")
    check_output_path(out)
    with out_console.status(f"building YOLOv10-{scale} and calibrating BatchNorm…"):
        build_fixture(scale, out, nc=nc, seed=seed, fused=fused)
    out_console.print(f"fixture YOLOv10-{scale} nc={nc} seed={seed}{' fused' if fused else ''} → {out}")


@app.command()
@command
def dump(
    model: Annotated[Path, typer.Argument(help=".pt checkpoint or .safetensors export")],
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    depth: Depth = "1",
    dtype: Annotated[str, typer.Option(help="float32 | float64")] = "float32",
    fuse: Annotated[bool, typer.Option("--fuse/--no-fuse", help="fuse Conv+BN first")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--out")] = None,
    summary: Annotated[Path | None, typer.Option(help="also write per-layer statistics as JSON")] = None,
):
    """Dump per-layer outputs of the real ultralytics network (one-to-one head pinned).

    [b]Example:[/] yolo10port dump yolov10s.pt --input bus.jpg --depth all -o ref.safetensors
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.dumps.run import parse_depth
    from yolo10port.reference.dump import DTYPES, dump_reference

    if dtype not in DTYPES:
        raise InputError("--dtype", f"{dtype!r} is not one of {', '.join(DTYPES)}")
    out = out or Path("reference_dumps") / f"{model.stem}.safetensors"
    check_output_path(out, model)
    depth_value = parse_depth(depth)
    with out_console.status("running ultralytics with forward hooks…"):
        path = dump_reference(_existing(model), out, input, imgsz, batch, depth_value, dtype, fuse, summary)
    out_console.print(f"reference dump → {path}" + (f"\nsummary → {summary}" if summary else ""))


@app.command()
@command
def run(
    weights: Annotated[Path, typer.Argument(help=".safetensors export or .pt checkpoint")],
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    depth: Depth = "1",
    dtype: Annotated[str, typer.Option(help="float32 | float64")] = "float32",
    fuse: Annotated[bool, typer.Option("--fuse/--no-fuse", help="fold BN and RepVGGDW first")] = False,
    scale: Annotated[str | None, typer.Option(help="insist on a scale (default: from the weights)")] = None,
    nc: Annotated[int | None, typer.Option(help="insist on a class count (default: from the weights)")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out")] = None,
):
    """Dump per-layer outputs of the clean reimplementation: same hooks, keys and format as `dump`.

    [b]Example:[/] yolo10port run yolov10s.safetensors -o clean.safetensors
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.dumps.run import parse_depth
    from yolo10port.reference.dump import DTYPES
    from yolo10port.runner import dump_clean

    if dtype not in DTYPES:
        raise InputError("--dtype", f"{dtype!r} is not one of {', '.join(DTYPES)}")
    out = out or weights.with_name(f"{weights.stem}.clean.safetensors")
    check_output_path(out, weights)
    depth_value = parse_depth(depth)
    with out_console.status("running the clean model with forward hooks…"):
        path = dump_clean(_existing(weights), out, input, imgsz, batch, depth_value, dtype, fuse, scale, nc)
    out_console.print(f"clean dump → {path}")


def _emit(report, fmt: str, out: Path | None) -> None:
    from yolo10port.atomic import write_text_atomic
    from yolo10port.compare.report import FORMATS, render, render_table, verdict

    if fmt not in FORMATS:
        raise InputError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "table":
        render_table(report, out_console)
        if out:
            with open(out, "w") as handle:
                render_table(report, Console(file=handle, width=200))
    elif out:
        write_text_atomic(out, render(report, fmt))
        out_console.print(verdict(report))
    else:
        sys.stdout.write(render(report, fmt))


@app.command()
@command
def diff(
    reference: Annotated[Path, typer.Argument(help="reference dump (.safetensors)")],
    candidate: Annotated[Path, typer.Argument(help="candidate dump (.safetensors), from any language")],
    layer: Layer = None,
    atol: Annotated[float | None, typer.Option(help="absolute tolerance")] = None,
    rtol: Annotated[float | None, typer.Option(help="relative tolerance, × max|reference| of the layer")] = None,
    tolerances: Annotated[Path | None, typer.Option(help="TOML file with per-layer overrides")] = None,
    format: Format = "table",
    out: Annotated[Path | None, typer.Option("-o", "--out", help="write the report here")] = None,
    force: Annotated[bool, typer.Option("--force", help="compare dumps of different inputs")] = False,
):
    """Per-layer error table of two dumps; exit 1 on a tolerance breach.

    [b]Example:[/] yolo10port diff ref.safetensors clean.safetensors --layer 0..23 --format junit -o report.xml
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.compare import diff_dumps, load_tolerances

    if out:
        check_output_path(out, reference, candidate)
    tol = load_tolerances(tolerances, atol, rtol)
    report = diff_dumps(reference, candidate, layer, tol, force)
    _emit(report, format, out)
    raise typer.Exit(EXIT_PASS if report.passed else EXIT_BREACH)


@app.command()
@command
def check(
    model: Annotated[Path | None, typer.Argument(help="ultralytics .pt checkpoint")] = None,
    input: Input = "ones",
    imgsz: Imgsz = 640,
    batch: Batch = 1,
    layer: Layer = None,
    fuse: Annotated[bool, typer.Option("--fuse", help="run the clean model fused")] = False,
    format: Format = "table",
    out: Annotated[Path | None, typer.Option("-o", "--out", help="write the report here")] = None,
    workdir: Annotated[Path | None, typer.Option(help="keep the export and dumps here")] = None,
    all_scales: Annotated[bool, typer.Option("--all-scales", help="build the six fixtures and check each")] = False,
):
    """The whole porting check: export, reference dump, clean run, diff, table, exit code.

    [b]Example:[/] yolo10port check yolov10s.pt    [b]or, without weights:[/] yolo10port check --all-scales
    """
    from yolo10port.check import run_check
    from yolo10port.dumps.inputs import check_batch, check_imgsz

    check_imgsz(imgsz)
    check_batch(batch)
    if all_scales:
        raise typer.Exit(_check_all_scales(input, imgsz, batch, layer, fuse, workdir))
    if model is None:
        raise InputError("MODEL", "give a checkpoint, or --all-scales to check the six built-in fixtures")
    _existing(model)
    if out:
        from yolo10port.atomic import check_output_path

        check_output_path(out, model)
    with out_console.status("checking…") as status:
        result = run_check(
            model, workdir, input, imgsz, batch, layer, fuse, progress=lambda step: status.update(f"{step}…")
        )
    _emit(result.report, format, out)
    if input == "ones":
        err_console.print(
            "[yellow]note:[/] the all-ones input has identical colour channels and a flat image; "
            "also check with --input random:0 or an image."
        )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    out_console.print(f"[dim]{timing}[/]")
    raise typer.Exit(EXIT_PASS if result.report.passed else EXIT_BREACH)


def _check_all_scales(input: str, imgsz: int, batch: int, layer: str | None, fuse: bool, workdir: Path | None) -> int:
    import tempfile

    from rich.table import Table

    from yolo10port.check import run_check
    from yolo10port.compare.report import verdict
    from yolo10port.model.scales import SCALES
    from yolo10port.reference.fixture import build_fixture

    table = Table("scale", "worst layer", "max-abs", "max-rel", "detections", "result")
    failed = False
    with tempfile.TemporaryDirectory(prefix="yolo10port-fixtures-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for scale in SCALES:
            with out_console.status(f"YOLOv10-{scale}: building fixture…") as status:
                path = folder / f"yolov10{scale}-fixture.pt"
                if not path.exists():
                    build_fixture(scale, path)
                result = run_check(
                    path,
                    folder / scale if workdir else None,
                    input,
                    imgsz,
                    batch,
                    layer,
                    fuse,
                    progress=lambda step, s=scale: status.update(f"YOLOv10-{s}: {step}…"),
                )
            report = result.report
            worst = max((r for r in report.layers if r.max_rel is not None), key=lambda r: r.max_rel)
            det = report.detections
            table.add_row(
                scale,
                worst.name,
                f"{worst.max_abs:.2e}",
                f"{worst.max_rel:.2e}",
                f"{det.matched}/{det.total}" if det else "—",
                "[green]PASS[/]" if report.passed else f"[red]FAIL[/] at {report.first_failure}",
            )
            out_console.print(f"YOLOv10-{scale}: {verdict(report)}", highlight=False)
            failed |= not report.passed
    out_console.print(table)
    return EXIT_BREACH if failed else EXIT_PASS


def main() -> None:
    app()


if __name__ == "__main__":
    main()
