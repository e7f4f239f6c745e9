"""Commands built on the library for people, not CI gates: detect and bench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import app, command, err_console, out_console
from yolo10port.cli.options import Device, Imgsz, Threads, check_device, existing, one_of
from yolo10port.errors import InputError
from yolo10port.shown import literal


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
    threads: Threads = None,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="default: beside IMAGE, stem + .detections.png")
    ] = None,
):
    """Detect with the clean model (fused) and draw the boxes, class names and scores on the image.

    [b]Example:[/] yolo10port detect detector/yolov10n-shapes.pt detector/demo.png -o demo-detections.png
    (trained at 256: the checkpoint says so, and detect uses it)
    """
    from rich.table import Table

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
    from yolo10port.cli.files import guard_outputs

    guard_outputs({"-o": out}, [existing(weights), existing(image)])
    model, weights_read = load_clean_model(existing(weights), fuse=True)
    if imgsz is None:
        imgsz, source = _default_imgsz(weights_read)
        err_console.print(f"imgsz {imgsz} ({source}; --imgsz to change)", highlight=False, markup=False)
    array = read_image(existing(image))
    detections = predict(model, array, imgsz, conf, device=device)
    write_image(out, draw_detections(array, detections))
    table = Table("class", "score", "x1", "y1", "x2", "y2", title=f"{len(detections)} detections above {conf}")
    for det in detections:
        table.add_row(literal(det.name), f"{det.score:.3f}", *(f"{v:.1f}" for v in det.box))
    out_console.print(table)
    out_console.print(f"drawn → {literal(out)}", highlight=False)


def _default_imgsz(weights) -> tuple[int, str]:
    """The image size detect uses without --imgsz, and where it came from, said as it is."""
    if weights.train_epochs == 0:
        return 640, "the default: the checkpoint was never trained (its training arguments say 0 epochs)"
    if weights.train_imgsz:
        return weights.train_imgsz, "the size it was trained at, from the checkpoint's training arguments"
    return 640, "the default: the checkpoint records no training size"


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
    device: Device = "cpu",
    threads: Threads = None,
    graphs: Annotated[
        bool,
        typer.Option(
            "--graphs/--no-graphs",
            help="CPU: also ONNX Runtime and OpenVINO on the ONNX export, ncnn on its export, and LiteRT on "
            "build/litert/yolov10SCALE-IMGSZ.tflite where that file and ai-edge-litert exist",
        ),
    ] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="write every figure as JSON here")] = None,
):
    """Latency against ultralytics fused, as ratios measured in one run; the `check` breakdown; dump/diff peak RSS.

    CPU: batch 1, float32: ultralytics, the clean model unfused and fused, ONNX Runtime, OpenVINO, ncnn (default
    options, top-k on the host), LiteRT (XNNPACK; only where `make litert-export` made the .tflite).
    CUDA: batch 1 and 32, float32 (TF32 off) and float16: ultralytics, the clean model fused, and fused as a
    CUDA graph in its fastest layout.

    [b]Examples:[/] yolo10port bench --scales n,s --repeat 11 --json bench.json
              yolo10port bench --device cuda --check-scales '' --memory-scale ''
    """
    from yolo10port.atomic import write_text_atomic
    from yolo10port.cli.files import guard_outputs
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
    check_device(device)
    guard_outputs({"--json": json_out}, [fixtures])
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
            device=device,
            graphs=graphs,
        )
    _render_bench(result)
    if json_out:
        write_text_atomic(json_out, result.to_json())
        out_console.print(f"figures → {literal(json_out)}", highlight=False)


def _render_bench(result) -> None:
    from rich.table import Table

    from yolo10port.workflows.bench import BASELINE

    m = result.machine
    where = f"{m['gpu']} (CUDA {m['cuda']}), " if "gpu" in m else ""
    out_console.print(f"{where}{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)")
    columns = list(dict.fromkeys(name for row in result.latency for name in row.ms))
    others = [name for name in columns if name != BASELINE]
    table = Table(
        "scale", "batch", "dtype", f"{BASELINE} (ms)", *(f"{name} (× ul)" for name in others),
        title=f"median latency at {result.imgsz}: ultralytics in ms, every other column as a ratio to it (< 1 faster)",
    )  # fmt: skip
    contended = bool(result.contention and result.contention["contended"])
    if contended:  # the ratios would be the neighbour's doing: the times are shown, the ratios withheld
        c = result.contention
        err_console.print(
            f"[yellow]warning:[/] the CPU is shared right now (load average {c['load']:.1f} on {c['cores']} cores"
            + (
                f"; {c['threads']} threads ran a probe only {c['speedup']:.2f}× faster than 1"
                if c["threads"] > 1
                else ""
            )
            + "): torch's latency can rise many-fold when its threads are descheduled, so the ratios below are "
            "withheld (times only, in the JSON too); re-run on a quiet machine, or with --threads 1",
            highlight=False,
        )
        table.title = f"median latency at {result.imgsz} in ms — CPU contended: ratios withheld"
    for row in result.latency:
        ratios = row.ratios
        cells = [row.scale, str(row.batch), row.dtype, f"{row.ms[BASELINE]:.1f}"]
        if contended:
            cells += [f"({row.ms[name]:.1f} ms)" if name in ratios else "—" for name in others]
        else:
            cells += [f"{ratios[name]:.2f} ({row.ms[name]:.1f} ms)" if name in ratios else "—" for name in others]
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
