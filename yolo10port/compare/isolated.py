"""Isolated error, numpy only: each module's own output, fed the reference's recorded input, against the reference.

Chained error (what the diff of two end-to-end dumps shows) answers "where does the error show up?"; isolated error
answers "which module is wrong?". The candidates the tool runs itself fill it by running one module at a time
(candidates/clean_isolated.py, candidates/graph.py); a port in any other language fills it with a second dump, its
*isolated dump*: for every module key `K`, its module's output when fed the reference's `K@input` (recorded by
`dump --with-inputs` or `golden --with-inputs`), written under `K` itself (`diff REF CAND --isolated ISOLATED`).
Each isolated error is judged against the same row's limit as the chained one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo10port.compare.engine import LayerRow, Report
from yolo10port.compare.metrics import tensor_error
from yolo10port.compare.quantized import QUANTIZED_RULE
from yolo10port.dumps.keys import INPUT_MARK, rows_of
from yolo10port.dumps.reader import DumpReader, read_dump_metadata
from yolo10port.errors import InputError

ISOLATED_META = "isolated"  # an isolated dump's own marker: `true` (optional; a note when absent)


def split_call(name: str) -> tuple[str, str]:
    """`model.9.m#2` → (`model.9.m`, `#2`): the module path and which call of it."""
    path, mark, call = name.partition("#")
    return path, mark + call


def input_key(name: str) -> str:
    """Where a module's recorded input is: `model.9.m#2` → `model.9.m@input#2` (a list: `…@input/<i>`)."""
    path, call = split_call(name)
    return f"{path}{INPUT_MARK}{call}"


def recorded_input(reader: DumpReader, name: str) -> np.ndarray | list[np.ndarray] | None:
    """The reference's input to `name`: one tensor, or the list a Concat or the head received; None if absent."""
    base = input_key(name)
    if base in reader:
        return reader.get(base)
    parts = []
    while f"{base}/{len(parts)}" in reader:
        parts.append(reader.get(f"{base}/{len(parts)}"))
    return parts or None


def fill_isolated(row: LayerRow, ref: np.ndarray, output: np.ndarray) -> None:
    """Set a row's isolated columns from its module's own output, judged against the row's limit."""
    error = tensor_error(ref, output)
    row.isolated_max_abs, row.isolated_max_rel = error.max_abs, error.max_rel
    row.isolated_sqnr, row.isolated_pcc = error.sqnr, error.pcc
    finite = not (error.nonfinite_cand or error.nonfinite_ref)
    if row.rule == QUANTIZED_RULE:  # diagnosis, not a gate: only a non-finite output fails alone
        row.isolated_passed = finite
        return
    within = row.limit is not None and error.max_abs <= row.limit
    if row.mean_limit is not None:
        within = within and error.mean_abs <= row.mean_limit
    row.isolated_passed = finite and within


def fill_key(rows: dict[str, LayerRow], key: str, reference_output: np.ndarray, output: np.ndarray) -> int:
    """Fill the isolated columns of `key`'s rows (the decoded head has two) from a module's own output; an output
    of another shape is a failure of the module alone. Returns how many rows were filled."""
    filled = 0
    if output.shape != reference_output.shape:
        for name, _ in rows_of(key, reference_output):
            if name in rows:
                rows[name].isolated_passed = False
                filled += 1
        return filled
    for (name, ref_part), (_, out_part) in zip(rows_of(key, reference_output), rows_of(key, output)):
        if name in rows:
            fill_isolated(rows[name], ref_part, out_part)
            filled += 1
    return filled


def compared_keys(report: Report) -> list[str]:
    """The dump keys behind a report's rows, in order (`model.23/boxes` and `model.23/scores` → `model.23`)."""
    return list(
        dict.fromkeys(row.name.split("/")[0] for row in report.layers if row.shape is not None and row.rule != "input")
    )


def attach_isolated_dump(report: Report, reference: str | Path, isolated: str | Path, force: bool = False) -> int:
    """Fill the rows' isolated columns from a port's isolated dump; returns how many rows got one.

    InputError (exit 2) when the file is not a dump, was made for another input or model, or holds no compared key.
    """
    ref_meta, iso_meta = read_dump_metadata(reference), read_dump_metadata(isolated)
    for field_name in ("scale", "nc", "input"):
        ours, theirs = ref_meta.get(field_name), iso_meta.get(field_name)
        if ours and theirs and ours != theirs and not force:
            raise InputError(
                isolated,
                f"{field_name} {theirs!r} differs from the reference's {ours!r} (use --force to compare anyway)",
            )
    rows = {row.name: row for row in report.layers}
    keys = compared_keys(report)
    filled, lacking = 0, []
    try:
        with DumpReader(reference) as ref_file, DumpReader(isolated) as iso_file:
            for key in keys:
                if key not in iso_file or key not in ref_file:
                    lacking.append(key)
                    continue
                filled += fill_key(rows, key, ref_file.get(key), iso_file.get(key).astype(np.float64))
    except InputError:
        raise
    except Exception as error:  # a header that parsed but whose data is broken
        raise InputError(isolated, f"unreadable dump data ({type(error).__name__}: {error})") from None
    if filled == 0:
        raise InputError(
            isolated,
            f"holds none of the {len(keys)} compared keys ({', '.join(keys[:3])}…): an isolated dump writes each "
            "module's output, fed the reference's `<key>@input`, under the module's own key",
        )
    report.isolated = True
    source = iso_meta.get("producer") or Path(isolated).name
    note = f"isolated error from {Path(isolated).name} ({source}): {filled} rows"
    if lacking:
        note += f"; {len(lacking)} compared keys have no isolated output (e.g. {lacking[0]})"
    if iso_meta.get(ISOLATED_META, "").lower() != "true":
        note += "; the file does not say `isolated` = `true` in its metadata: make sure it is not the chained dump"
    report.notes.append(note)
    return filled


def attach_isolated_set(result, reference: Path, isolated: Path, force: bool = False) -> int:
    """Folders (a golden set): each comparison gets the isolated dump of the same file name in `isolated`."""
    if not isolated.is_dir():
        raise InputError(isolated, "with two folders, --isolated is a folder of isolated dumps named like theirs")
    filled = 0
    for name, report in result.reports.items():
        path = isolated / f"{name}.safetensors"
        if path.exists():
            filled += attach_isolated_dump(report, reference / f"{name}.safetensors", path, force)
    if filled == 0:
        raise InputError(isolated, f"holds no isolated dump named like the compared ones ({', '.join(result.reports)})")
    return filled
