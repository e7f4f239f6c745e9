"""Commands built on the library for people, not CI gates: detect, selftest, bench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console, out_console
from yolo10port.cli.options import Device, Imgsz, check_device, existing, one_of
from yolo10port.errors import InputError


@app.command()
@command
def detect(
    weights: Annotated[Path, typer.Argument(help="weights: .pt, .safetensors export, Hugging Face snapshot …")],
    image: Annotated[Path, typer.Argument(help="an image file")],
    conf: Annotated[float, typer.Option(help="keep boxes scoring above this")] = 0.25,
    imgsz: Annotated[
        int | None,
        typer.Option(help="input size, a multiple of 32 (default: the size the checkpoint was trained at, else 640)"),
    ] = None,
    device: Device = "cpu",
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="default: beside IMAGE, stem + .detections.png")
    ] = None,
):
    """Detect with the clean model (fused) and draw the boxes, class names and scores on the image.

    [b]Example:[/] yolo10port detect detector/yolov10n-shapes.pt detector/demo.png -o demo-detections.png
    (trained at 256: the checkpoint says so, and detect uses it)
    """
    from rich.table import Table

    from yolo10port.atomic import check_output_path
    from yolo10port.candidates.clean import load_clean_model
    from yolo10port.dumps.inputs import read_image
    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.workflows.detect import draw_detections, predict, write_image

    if imgsz is not None:
        check_imgsz(imgsz)
    if not 0.0 <= conf < 1.0:
        raise InputError("--conf", f"{conf} is not in [0, 1)")
    check_device(device)
    out = out or image.with_name(f"{image.stem}.detections.png")
    check_output_path(out, weights, image)
    model, weights_read = load_clean_model(existing(weights), fuse=True)
    if imgsz is None:
        imgsz = weights_read.train_imgsz or 640
        source = "the size it was trained at" if weights_read.train_imgsz else "no training size recorded"
        err_console.print(f"imgsz {imgsz} ({source}; --imgsz to change)", highlight=False)
    array = read_image(existing(image))
    detections = predict(model, array, imgsz, conf, device=device)
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
    fixtures: Annotated[
        Path | None,
        typer.Option(help="where the fixture is built or reused (default: the user cache)", show_default=False),
    ] = None,
    device: Device = "cpu",
):
    """Plant real porting bugs in the clean model; show per input kind whether `check` catches each, and where.

    Exit 0 when every bug is caught by at least one input kind and the unmutated model passes on all of them.

    [b]Example:[/] yolo10port selftest --scale n
    """
    from rich.table import Table

    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.model.scales import SCALES
    from yolo10port.workflows.selftest.mutations import MUTATIONS
    from yolo10port.workflows.selftest.run import INPUT_KINDS, bundled_image, run_selftest

    check_imgsz(imgsz)
    check_device(device)
    if model is None:
        one_of("--scale", scale, SCALES)
        from yolo10port.reference.fixture import cached_fixture, fixture_cache

        fixtures = fixtures or fixture_cache()
        fixtures.mkdir(parents=True, exist_ok=True)
        with err_console.status(f"building the YOLOv10-{scale} fixture…"):
            model = cached_fixture(scale, fixtures)
    existing(model)
    if image is not None:
        existing(image)
    inputs = {kind: spec or str(image or bundled_image()) for kind, spec in INPUT_KINDS.items()}
    with err_console.status("self-test…") as status:
        result = run_selftest(
            model, scale, inputs, imgsz=imgsz, device=device, progress=lambda s: status.update(s + "…")
        )
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
    fixtures: Annotated[
        Path | None,
        typer.Option(help="where fixtures are built or reused (default: the user cache)", show_default=False),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write every figure as JSON here")] = None,
):
    """Latency of ultralytics vs the clean model (unfused, fused), the `check` breakdown, dump/diff peak RSS.

    [b]Example:[/] yolo10port bench --scales n,s --repeat 11 --json bench.json
    """
    from yolo10port.atomic import check_output_path, write_text_atomic
    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.model.scales import SCALES
    from yolo10port.reference.fixture import fixture_cache
    from yolo10port.workflows.bench import run_bench

    check_imgsz(imgsz)
    chosen = [s for s in scales.split(",") if s]
    checked = [s for s in check_scales.split(",") if s]
    for scale in [*chosen, *checked, *([memory_scale] if memory_scale else [])]:
        one_of("--scales", scale, SCALES)
    if repeat < 1:
        raise InputError("--repeat", f"{repeat} is not a positive number of runs")
    if json_out:
        check_output_path(json_out)
    with err_console.status("benchmarking…") as status:
        result = run_bench(
            chosen,
            imgsz,
            repeat,
            fixtures or fixture_cache(),
            checked,
            memory_scale or None,
            compile,
            lambda s: status.update(s + "…"),
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
