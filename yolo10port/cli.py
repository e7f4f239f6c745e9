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
err_console = Console(stderr=True, soft_wrap=True)  # one message, one line, however long

EXIT_PASS, EXIT_BREACH, EXIT_INPUT = 0, 1, 2


def command(func):
    """Expected failures → one red line on stderr and exit 2; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as error:
            err_console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        except Exception as error:
            from yolo10port.model.loading import LoadError  # imported here: it costs the torch import

            if not isinstance(error, LoadError):
                raise
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


def _one_of(option: str, value: str, allowed) -> None:
    if value not in allowed:
        raise InputError(option, f"{value!r} is not one of {', '.join(allowed)}")


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

    _one_of("--scale", scale, SCALES)
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
    with_inputs: Annotated[
        bool, typer.Option("--with-inputs", help="also record each module's input as <path>@input")
    ] = False,
):
    """Dump per-layer outputs of the real ultralytics network (one-to-one head pinned).

    [b]Example:[/] yolo10port dump yolov10s.pt --input bus.jpg --depth all -o ref.safetensors
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.dumps.run import parse_depth
    from yolo10port.reference.dump import DTYPES, dump_reference

    _one_of("--dtype", dtype, DTYPES)
    out = out or Path("reference_dumps") / f"{model.stem}.safetensors"
    check_output_path(out, model)
    depth_value = parse_depth(depth)
    with out_console.status("running ultralytics with forward hooks…"):
        path = dump_reference(
            _existing(model), out, input, imgsz, batch, depth_value, dtype, fuse, summary, with_inputs=with_inputs
        )
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

    _one_of("--dtype", dtype, DTYPES)
    out = out or weights.with_name(f"{weights.stem}.clean.safetensors")
    check_output_path(out, weights)
    depth_value = parse_depth(depth)
    with out_console.status("running the clean model with forward hooks…"):
        path = dump_clean(_existing(weights), out, input, imgsz, batch, depth_value, dtype, fuse, scale, nc)
    out_console.print(f"clean dump → {path}")


def _emit(report, fmt: str, out: Path | None) -> None:
    from yolo10port.atomic import write_text_atomic
    from yolo10port.compare.report import FORMATS, render, render_table, verdict

    _one_of("--format", fmt, FORMATS)
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
    drill: Annotated[
        bool, typer.Option("--drill", help="list the submodules of the first failing layer (dumps at --depth all)")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="also draw the per-layer errors (log scale) to this PNG")] = None,
):
    """Per-layer error table of two dumps; exit 1 on a tolerance breach.

    [b]Example:[/] yolo10port diff ref.safetensors clean.safetensors --layer 0..23 --format junit -o report.xml
    """
    from yolo10port.atomic import check_output_path
    from yolo10port.compare import diff_dumps, load_tolerances

    for output in (out, plot):
        if output:
            check_output_path(output, reference, candidate)
    tol = load_tolerances(tolerances, atol, rtol)
    report = diff_dumps(reference, candidate, layer, tol, force)
    if drill and not report.passed:
        from yolo10port.compare.drill import drill_existing

        report.drill = drill_existing(report)
        if report.drill is None:
            err_console.print(
                "[yellow]note:[/] the dumps hold no submodules of the failing layer; dump both sides "
                "with --depth all to drill down"
            )
    _emit(report, format, out)
    if plot:
        from yolo10port.pictures import plot_errors

        err_console.print(f"error plot → {plot_errors(report, plot)}")
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
    drill: Annotated[bool, typer.Option("--drill", help="on failure, name the first wrong module inside")] = False,
    tol: Annotated[str, typer.Option(help="default (atol/rtol) | auto (from the float64 noise floor)")] = "default",
    dtype: Annotated[str, typer.Option(help="the clean model's dtype: float32 | float64 | float16 | bfloat16")] = (
        "float32"
    ),
    e2e: Annotated[
        bool, typer.Option("--e2e", help="also match final boxes against ultralytics' predictor (image input)")
    ] = False,
):
    """The whole porting check: export, reference dump, clean run, diff, table, exit code.

    Besides each layer's chained error, the table shows its isolated error (the clean module fed the reference's
    recorded inputs): high isolated error = this module is wrong; high chained but low isolated = inherited.

    [b]Example:[/] yolo10port check yolov10s.pt --input bus.jpg --drill    [b]or:[/] yolo10port check --all-scales
    """
    from yolo10port.check import run_check
    from yolo10port.dumps.inputs import check_batch, check_imgsz
    from yolo10port.runner import CLEAN_DTYPES

    check_imgsz(imgsz)
    check_batch(batch)
    if tol not in ("default", "auto"):
        raise InputError("--tol", f"{tol!r} is neither default nor auto")
    _one_of("--dtype", dtype, CLEAN_DTYPES)
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
            model,
            workdir,
            input,
            imgsz,
            batch,
            layer,
            fuse,
            progress=lambda step: status.update(f"{step}…"),
            drill=drill,
            tol_auto=tol == "auto",
            dtype=dtype,
        )
    _emit(result.report, format, out)
    e2e_failed = False
    if e2e:
        e2e_failed = _end_to_end(model, input, imgsz)
    if input == "ones":
        err_console.print(
            "[yellow]note:[/] the all-ones input has identical colour channels and a flat image; "
            "also check with --input random:0 or an image."
        )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    out_console.print(f"[dim]{timing}[/]")
    raise typer.Exit(EXIT_PASS if result.report.passed and not e2e_failed else EXIT_BREACH)


def _end_to_end(model: Path, image: str, imgsz: int) -> bool:
    """Print the end-to-end match against ultralytics' predictor; True when it failed."""
    from yolo10port.e2e import run_e2e

    if not Path(image).is_file():
        raise InputError("--e2e", f"needs an image file as --input, not {image!r}")
    with out_console.status("end to end: ultralytics' predictor and the clean model on the image…"):
        result = run_e2e(model, image, imgsz)
    m = result.match
    verdict = "[green]PASS[/]" if m.passed else f"[red]FAIL[/] {m.reason}"
    out_console.print(
        f"end to end on {image} (original-image pixels, clean model fused): {m.matched}/{m.total} boxes matched"
        + (f" (+{m.at_cut} at the top-k cut)" if m.at_cut else "")
        + f", worst IoU {m.worst_iou:.6f}, worst Δscore {m.worst_score_diff:.1e}; preprocessed input "
        + ("identical" if result.input_identical else "[red]DIFFERS[/]")
        + f" — {verdict}",
        highlight=False,
    )
    return not (m.passed and result.input_identical)


@app.command()
@command
def detect(
    weights: Annotated[Path, typer.Argument(help=".pt checkpoint or .safetensors export")],
    image: Annotated[Path, typer.Argument(help="an image file")],
    conf: Annotated[float, typer.Option(help="keep boxes scoring above this")] = 0.25,
    imgsz: Imgsz = 640,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="default: IMAGE stem + .detections.png")] = None,
):
    """Detect with the clean model (fused) and draw the boxes, class names and scores on the image.

    [b]Example:[/] yolo10port detect detector/yolov10n-shapes.pt detector/demo.png -o demo-detections.png
    """
    from rich.table import Table

    from yolo10port.atomic import check_output_path
    from yolo10port.dumps.inputs import check_imgsz, read_image
    from yolo10port.pictures import draw_detections, write_image
    from yolo10port.predict import predict
    from yolo10port.runner import load_clean_model

    check_imgsz(imgsz)
    if not 0.0 <= conf < 1.0:
        raise InputError("--conf", f"{conf} is not in [0, 1)")
    out = out or image.with_name(f"{image.stem}.detections.png")
    check_output_path(out, weights, image)
    model, _ = load_clean_model(_existing(weights), fuse=True)
    array = read_image(_existing(image))
    detections = predict(model, array, imgsz, conf)
    write_image(out, draw_detections(array, detections))
    table = Table("class", "score", "x1", "y1", "x2", "y2", title=f"{len(detections)} detections above {conf}")
    for det in detections:
        table.add_row(det.name, f"{det.score:.3f}", *(f"{v:.1f}" for v in det.box))
    out_console.print(table)
    out_console.print(f"drawn → {out}")


@app.command()
@command
def selftest(
    model: Annotated[Path | None, typer.Argument(help="checkpoint to plant bugs in (default: a fixture)")] = None,
    scale: Annotated[str, typer.Option(help="fixture scale when no MODEL is given")] = "n",
    image: Annotated[Path | None, typer.Option(help="the image input kind (default: ultralytics' bus.jpg)")] = None,
    imgsz: Imgsz = 640,
    fixtures: Annotated[Path, typer.Option(help="where the fixture is built or reused")] = Path("build/fixtures"),
):
    """Plant real porting bugs in the clean model; show per input kind whether `check` catches each, and where.

    Exit 0 when every bug is caught by at least one input kind and the unmutated model passes on all of them.

    [b]Example:[/] yolo10port selftest --scale n
    """
    from rich.table import Table

    from yolo10port.dumps.inputs import check_imgsz
    from yolo10port.model.scales import SCALES
    from yolo10port.selftest.mutations import MUTATIONS
    from yolo10port.selftest.run import INPUT_KINDS, bundled_image, run_selftest

    check_imgsz(imgsz)
    if model is None:
        _one_of("--scale", scale, SCALES)
        from yolo10port.reference.fixture import cached_fixture

        fixtures.mkdir(parents=True, exist_ok=True)
        with out_console.status(f"building the YOLOv10-{scale} fixture…"):
            model = cached_fixture(scale, fixtures)
    _existing(model)
    if image is not None:
        _existing(image)
    inputs = {kind: spec or str(image or bundled_image()) for kind, spec in INPUT_KINDS.items()}
    with out_console.status("self-test…") as status:
        result = run_selftest(model, scale, inputs, imgsz=imgsz, progress=lambda s: status.update(s + "…"))
    table = Table("mutation", "the porting bug", *inputs, title=f"{model}: caught at (first failure → culprit)")
    table.add_row(
        "none",
        "the unmutated clean model",
        *("[green]passes[/]" if result.baseline[k] else "[red]FAILS[/]" for k in inputs),
    )
    bugs = {m.name: m.bug for m in MUTATIONS}
    for name, row in result.outcomes.items():
        cells = []
        for kind in inputs:
            o = row[kind]
            if not o.caught:
                cells.append("[red]missed[/]")
                continue
            culprit = f" → {o.culprit}" if o.culprit and o.culprit != o.first_failure else ""
            cells.append(f"[green]{o.first_failure}{culprit}[/]")
        table.add_row(name, bugs[name], *cells)
    out_console.print(table)
    for kind in inputs:
        spots = result.blind_spots(kind)
        out_console.print(f"{kind} input misses: {', '.join(spots) if spots else 'nothing'}", highlight=False)
    if result.passed:
        out_console.print(f"[green]every one of {len(result.outcomes)} planted bugs caught by at least one input[/]")
    else:
        out_console.print(
            f"[bold red]not caught by any input: {', '.join(result.missed) or '—'}; "
            f"baseline fails on: {', '.join(k for k, ok in result.baseline.items() if not ok) or '—'}[/]"
        )
    raise typer.Exit(EXIT_PASS if result.passed else EXIT_BREACH)


@app.command()
@command
def bench(
    scales: Annotated[str, typer.Option(help="comma-separated scales to time")] = "n,s,m,b,l,x",
    imgsz: Imgsz = 640,
    repeat: Annotated[int, typer.Option(help="timed runs per model (median reported), after 2 warm-ups")] = 15,
    check_scales: Annotated[str, typer.Option(help="scales whose `check` is broken down; '' for none")] = "s,x",
    memory_scale: Annotated[str, typer.Option(help="scale for the dump/diff peak-RSS test; '' to skip")] = "x",
    compile: Annotated[bool, typer.Option("--compile", help="also time torch.compile of the fused model")] = False,
    fixtures: Annotated[Path, typer.Option(help="where fixtures are built or reused")] = Path("build/fixtures"),
    json_out: Annotated[Path | None, typer.Option("--json", help="write every figure as JSON here")] = None,
):
    """Latency of ultralytics vs the clean model (unfused, fused), the `check` breakdown, dump/diff peak RSS.

    [b]Example:[/] yolo10port bench --scales n,s --repeat 11 --json bench.json
    """
    from yolo10port.atomic import check_output_path, write_text_atomic
    from yolo10port.bench import run_bench
    from yolo10port.dumps.inputs import check_imgsz
    from yolo10port.model.scales import SCALES

    check_imgsz(imgsz)
    chosen = [s for s in scales.split(",") if s]
    checked = [s for s in check_scales.split(",") if s]
    for scale in [*chosen, *checked, *([memory_scale] if memory_scale else [])]:
        _one_of("--scales", scale, SCALES)
    if repeat < 1:
        raise InputError("--repeat", f"{repeat} is not a positive number of runs")
    if json_out:
        check_output_path(json_out)
    with out_console.status("benchmarking…") as status:
        result = run_bench(
            chosen, imgsz, repeat, fixtures, checked, memory_scale or None, compile, lambda s: status.update(s + "…")
        )
    _render_bench(result)
    if json_out:
        write_text_atomic(json_out, result.to_json())
        out_console.print(f"figures → {json_out}")


def _render_bench(result) -> None:
    from rich.table import Table

    m = result.machine
    out_console.print(f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)")
    columns = ["scale", "ultralytics fused", "clean unfused", "clean fused", "fused ÷ ultralytics"]
    compiled = any(row.clean_compiled_ms is not None for row in result.latency)
    table = Table(*columns, *(["compiled", "compile time"] if compiled else []), title=f"median ms at {result.imgsz}")
    for row in result.latency:
        cells = [row.scale, f"{row.ultralytics_fused_ms:.1f}", f"{row.clean_unfused_ms:.1f}"]
        cells += [f"{row.clean_fused_ms:.1f}", f"{row.ratio:.2f}"]
        if compiled:
            cells += [f"{row.clean_compiled_ms:.1f}", f"{row.compile_s:.0f} s"]
        table.add_row(*cells)
    if result.latency:
        out_console.print(table)
    for scale, seconds in result.check_seconds.items():
        steps = ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
        out_console.print(f"check YOLOv10-{scale}: {steps}; total {sum(seconds.values()):.2f} s")
    mem = result.memory
    if mem:
        out_console.print(
            f"YOLOv10-{mem.scale} peak RSS: bare torch+ultralytics interpreter {mem.baseline_rss_mb:.0f} MB; one "
            f"plain forward {mem.forward_rss_mb:.0f} MB; dump --depth 1 {mem.dump_depth_1_peak_rss_mb:.0f} MB; "
            f"dump --depth all ({mem.dump_keys} keys, {mem.dump_size_mb:.0f} MB on disk) "
            f"{mem.dump_depth_all_peak_rss_mb:.0f} MB; diff of two such dumps {mem.diff_peak_rss_mb:.0f} MB. "
            f"Weights {mem.weights_mb:.0f} MB (float32), largest output {mem.largest_output_mb:.0f} MB.",
            highlight=False,
        )


def _check_all_scales(input: str, imgsz: int, batch: int, layer: str | None, fuse: bool, workdir: Path | None) -> int:
    import tempfile

    from rich.table import Table

    from yolo10port.check import run_check
    from yolo10port.compare.report import verdict
    from yolo10port.model.scales import SCALES
    from yolo10port.reference.fixture import cached_fixture

    table = Table("scale", "worst layer", "max-abs", "max-rel", "detections", "result")
    failed = False
    with tempfile.TemporaryDirectory(prefix="yolo10port-fixtures-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for scale in SCALES:
            with out_console.status(f"YOLOv10-{scale}: building fixture…") as status:
                path = cached_fixture(scale, folder)
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
    """Entry point. Usage errors (a non-integer `--batch`, an unknown option) also end as one line, exit 2."""
    import os

    if len(sys.argv) == 1:
        sys.argv.append("--help")
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # click's UsageError and friends, vendored by typer
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        err_console.print(f"[red]error:[/] {error.format_message()}{hint}", highlight=False, soft_wrap=True)
        code = getattr(error, "exit_code", EXIT_INPUT)
    except typer.Abort:
        err_console.print("[red]aborted[/]")
        code = 130
    except Exception as error:
        if os.environ.get("YOLO10PORT_TRACEBACK"):
            raise
        # A bug, or an input nobody anticipated: still one line, and the way to the traceback.
        message = str(error).splitlines()[0] if str(error) else ""
        err_console.print(
            f"[red]unexpected error:[/] {type(error).__name__}: {message} "
            "(set YOLO10PORT_TRACEBACK=1 to see where; please report it)",
            highlight=False,
            soft_wrap=True,
        )
        code = EXIT_INPUT
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
