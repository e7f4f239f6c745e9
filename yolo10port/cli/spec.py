"""`yolo10port spec`: the porter's specification of a model, read from the network ultralytics builds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo10port.cli.app import app, command, err_console, out_console
from yolo10port.cli.options import Imgsz, existing, one_of

SPEC_FORMATS = ("markdown", "json")


@app.command()
@command
def spec(
    model: Annotated[Path, typer.Argument(help="weights: .pt, .safetensors export, Hugging Face snapshot …")],
    imgsz: Imgsz = 640,
    format: Annotated[str, typer.Option("--format", "-f", help="markdown | json")] = "markdown",
    module: Annotated[
        str | None, typer.Option("--module", "-m", help="only this module path and its descendants (e.g. model.10)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="write the document to this file (default: stdout)")
    ] = None,
):
    """A porter's specification, read from the network ultralytics builds for MODEL (not from source or YAML).

    For every module path at every depth: type, input and output shapes at --imgsz, hyperparameters as built
    (kernel, stride, padding, groups, dilation, BatchNorm eps and momentum, the activation each Conv really applies,
    the attention's heads, key_dim and scale, Upsample's mode, Concat's sources), its own tensors with shapes; the
    decoded head's layout and the top-k rules, checked on ultralytics' own run; the dump key grammar and every key
    `dump --depth all` writes for this model.

    [b]Example:[/] yolo10port spec yolov10n.pt --imgsz 640 --module model.10 -o psa.md
    """
    import sys

    from yolo10port.atomic import check_output_path, write_text_atomic
    from yolo10port.dumps.spec import check_imgsz
    from yolo10port.errors import InputError

    one_of("--format", format, SPEC_FORMATS)
    check_imgsz(imgsz)
    if module is not None and not (module == "model" or module.startswith("model.")):
        raise InputError("--module", f"{module!r} is not a module path (model.N…)")
    if out:
        check_output_path(out, model)
    from yolo10port.reference.spec import build_spec, subtree
    from yolo10port.reference.spec_markdown import render_markdown

    document = build_spec(existing(model), imgsz)
    if module is not None:
        document = subtree(document, module)
        if not document["modules"]:
            raise InputError("--module", f"{module!r} is not a module of this network (e.g. model.10.attn)")
    if format == "json":
        import json

        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    else:
        text = render_markdown(document) + "\n"
    if out:
        write_text_atomic(out, text)
        out_console.print(f"spec → {out} ({len(document['modules'])} modules)", highlight=False, markup=False)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
        err_console.print(f"{len(document['modules'])} modules", highlight=False, markup=False)
