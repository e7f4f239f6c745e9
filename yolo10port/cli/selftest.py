"""`yolo10port selftest`: on your model, proof that the checker neither cries wolf nor misses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import EXIT_BREACH, EXIT_PASS, app, command, err_console, out_console
from yolo10port.cli.options import Device, Imgsz, Threads, check_device, existing, one_of, run_spec
from yolo10port.errors import InputError


def _input_kinds(inputs: str) -> dict[str, str]:
    """`ones,random:0,bus.jpg` → kind → spec; bus.jpg and zidane.jpg are ultralytics' bundled photos unless a file
    of that name exists here."""
    from yolo10port.workflows.selftest.run import bundled_image

    kinds = {}
    for part in (p.strip() for p in inputs.split(",") if p.strip()):
        if part in ("bus.jpg", "zidane.jpg") and not Path(part).exists():
            kinds[part] = bundled_image(part)
        elif part in ("ones", "zeros") or part.startswith("random:"):
            kinds[part] = part
        else:
            kinds[Path(part).name] = str(existing(Path(part)))
    if not kinds:
        raise InputError("--inputs", "give at least one input kind")
    return kinds


@app.command()
@command
def selftest(
    model: Annotated[Path | None, typer.Argument(help="checkpoint to test the checker on (default: a fixture)")] = None,
    scale: Annotated[str, typer.Option(help="fixture scale when no MODEL is given")] = "n",
    inputs: Annotated[str, typer.Option(help="input kinds: ones, zeros, random:SEED, image files")] = (
        "ones,random:0,bus.jpg"
    ),
    honest: Annotated[
        str,
        typer.Option(
            help="honest candidates: clean, clean-fused, onnxruntime, openvino, ncnn (Winograd on, its floor), "
            "ncnn-direct, litert, litert-builtin (build/litert/yolov10SCALE-IMGSZ.tflite)"
        ),
    ] = "clean,clean-fused",
    weights: Annotated[
        bool, typer.Option("--weights/--no-weights", help="also the 23 one-weight ×1.001 bugs, one per layer")
    ] = True,
    mutation_inputs: Annotated[
        str | None,
        typer.Option(help="plant the bugs on these input kinds only (default: all of --inputs; none: no bugs)"),
    ] = None,
    imgsz: Imgsz = 640,
    device: Device = "cpu",
    threads: Threads = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="run the honest candidates and the bugged clean model in float16 | bfloat16 | tf32 | winograd | "
            "winograd-f43, judged by that precision's floor (an honest name may carry its own: openvino@bfloat16)",
            show_default=False,
        ),
    ] = None,
    weight_factor: Annotated[
        float, typer.Option(help="the one-weight bugs' factor (×1.001 by default; float16 needs a larger one)")
    ] = 1.001,
    fixtures: Annotated[
        Path | None,
        typer.Option(help="where the fixture is built or reused (default: the user cache)", show_default=False),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write every figure as JSON here")] = None,
):
    """Prove the checker on a model: honest candidates pass (no false alarm), planted bugs fail in their layer.

    Honest candidates: the clean model unfused and fused, the model exported to ONNX under ONNX Runtime and
    OpenVINO; the table gives each one's smallest margin (limit ÷ max-abs). Planted bugs: 14 real porting bugs
    and 23 one-weight ×1.001 slips, one per layer. Exit 0 when every honest candidate passes on every input and
    every bug is caught, in the layer it is in, by at least one input kind; a bug that moves its layer less than
    rounding does on every input (its effect measured in float64) is listed as not testable there, not as caught.

    [b]Examples:[/] yolo10port selftest --scale n
              yolo10port selftest yolov10s.pt --inputs ones,zeros,random:0,bus.jpg --honest clean-fused,onnxruntime
    """
    from yolo10port.atomic import write_text_atomic
    from yolo10port.cli.files import guard_outputs
    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.model.scales import SCALES
    from yolo10port.workflows.selftest.mutations import MUTATIONS, WEIGHT_MUTATIONS
    from yolo10port.workflows.selftest.run import HONEST, run_selftest

    check_imgsz(imgsz)
    check_device(device)
    kinds = _input_kinds(inputs)
    candidates = tuple(c.strip() for c in honest.split(",") if c.strip())
    for name in candidates:
        one_of("--honest", name.partition("@")[0], HONEST)
    if precision is not None:
        from yolo10port.workflows.precision import asked_precision

        asked_precision(precision, run_spec(imgsz=imgsz, device=device), "clean")
    planted_on = None
    if mutation_inputs is not None:
        planted_on = () if mutation_inputs.strip() == "none" else tuple(_input_kinds(mutation_inputs))
    guard_outputs({"--json": json_out}, [model, fixtures, *inputs.split(",")])
    if model is None:
        one_of("--scale", scale, SCALES)
        from yolo10port.reference.fixture import cached_fixture, fixture_cache

        fixtures = fixtures or fixture_cache()
        fixtures.mkdir(parents=True, exist_ok=True)
        with err_console.status(f"building the YOLOv10-{scale} fixture…"):
            model = cached_fixture(scale, fixtures)
    existing(model)
    from yolo10port.workflows.selftest.mutations import weight_mutations

    weight_bugs = WEIGHT_MUTATIONS if weight_factor == 1.001 else weight_mutations(weight_factor)
    mutations = MUTATIONS + (weight_bugs if weights else [])
    with err_console.status("self-test…") as status:
        result = run_selftest(
            model,
            scale,
            kinds,
            mutations,
            imgsz=imgsz,
            device=device,
            progress=lambda s: status.update(s + "…"),
            honest=candidates,
            mutation_inputs=planted_on,
            precision=precision,
        )
    _render(result, model, mutations)
    if json_out:
        write_text_atomic(json_out, result.to_json())
        out_console.print(f"figures → {json_out}", highlight=False)
    raise typer.Exit(EXIT_PASS if result.passed else EXIT_BREACH)


def _render(result, model: Path, mutations) -> None:
    from rich.table import Table

    kinds = list(result.inputs)
    honest = Table("honest candidate", *kinds, title=f"{model}: no false alarm (smallest margin: limit ÷ max-abs)")
    for name, row in result.honest.items():
        cells = []
        for kind in kinds:
            h = row[kind]
            margin = "exact" if h.smallest_margin == float("inf") else f"{h.smallest_margin:.1f}× at {h.at}"
            cells.append(f"[green]{margin}[/]" if h.passed else f"[red]FAILS at {h.first_failure}[/]")
        honest.add_row(name, *cells)
    out_console.print(honest)
    title = f"{model}: no miss (each cell: where the bug was first seen, → the isolated culprit where it differs)"
    table = Table("mutation", "the porting bug", "in", *kinds, title=title)
    by_name = {m.name: m for m in mutations}
    for name, row in result.outcomes.items():
        cells = []
        for kind in kinds:
            o = row.get(kind)
            if o is None:
                cells.append("—")
            elif o.invisible:
                cells.append(f"[yellow]below the noise ({o.effect:.2g} floors)[/]")
            elif not o.caught:
                cells.append("[red]missed[/]")
            else:
                culprit = f" → {o.culprit}" if o.culprit and o.culprit != o.first_failure else ""
                times = f" ({o.margin:.0f}×)" if o.margin is not None and o.margin < 1e4 else ""
                colour = "green" if o.right_layer else "yellow"
                cells.append(f"[{colour}]{o.first_failure}{culprit}{times}[/]")
        expected = next((o.expected for o in row.values()), "")
        table.add_row(name, by_name[name].bug, expected, *cells)
    out_console.print(table)
    out_console.print(
        "legend: (n×) after a layer = how far past its limit the bug's error lands there (error ÷ limit; shown below "
        "10,000×); green = caught in the layer the bug is in, yellow = caught elsewhere first, or below the noise: "
        "the bug moves its layer less than rounding does on that input (float32's, or that of --precision; its effect "
        "measured in float64, in floors), so no tolerance can see it there; red = missed",
        highlight=False,
    )
    if result.not_applicable:
        out_console.print(
            f"not applicable to this model (no such block): {', '.join(result.not_applicable)}", highlight=False
        )
    for name, kind, where in result.misplaced:
        out_console.print(f"[yellow]{name} on {kind}: first seen at {where}, not in the layer it is in[/]")
    for kind in kinds:
        spots = result.blind_spots(kind)
        line = f"{kind} input misses: {', '.join(spots) if spots else 'nothing'}"
        if quiet := result.below_noise(kind):
            line += f" (below the noise floor on it, which no tolerance can see: {', '.join(quiet)})"
        out_console.print(line, highlight=False)
    invisible = result.invisible
    if invisible:
        out_console.print(
            f"[yellow]not testable with these inputs on this model: {', '.join(invisible)}: on every input tried, "
            "the bug moves its layer less than rounding does (its floor), so no tolerance could see it; test them on "
            "another input or another model[/]"
        )
    if result.passed:
        # "caught" means by at least one input kind; the lines above say which inputs let which bugs through.
        partly = sum(1 for kind in kinds if result.blind_spots(kind))
        where = " on every input"
        if partly:
            kinds_word = "input kind misses" if partly == 1 else "input kinds miss"
            where = f" by at least one input ({partly} {kinds_word} some, listed above)"
        testable = len(result.outcomes) - len(invisible)
        caught = f"every one of {testable} testable planted bugs" if invisible else (
            f"every one of {len(result.outcomes)} planted bugs")  # fmt: skip
        out_console.print(f"[green]no false alarm; {caught} caught in its own layer{where}[/]")
    else:
        alarms = ", ".join(f"{name} on {kind}" for name, kind in result.false_alarms) or "—"
        out_console.print(f"[bold red]false alarms: {alarms}; missed: {', '.join(result.missed) or '—'}[/]")
