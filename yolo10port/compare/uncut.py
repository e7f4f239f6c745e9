"""Tables that never cut a name: a layer name shortened to `model.13.m.0.cv…` could be any of several keys.

Names and numbers never wrap; a failure's reason wraps at spaces; and when the table cannot fit the console with
every name and number whole, it is printed wider than the console rather than cut (a terminal wraps the long
lines, a log keeps them whole)."""

from __future__ import annotations

WRAPPING_COLUMNS = ("result",)  # prose (a failure's reason) wraps at spaces; names and numbers never do


def add_columns(table, names, left=("layer", "type", "shape")) -> None:
    for name in names:
        table.add_column(name, justify="left" if name in left else "right", no_wrap=name not in WRAPPING_COLUMNS)


def print_uncut(console, table) -> None:
    from rich.measure import Measurement

    wide = console.options.update_width(1 << 16)
    for column in table.columns:  # a column that must not wrap is at least as wide as its widest cell
        if column.no_wrap:
            cells = [column.header, *column.cells]
            column.min_width = max(Measurement.get(console, wide, cell).maximum for cell in cells)
    needed = Measurement.get(console, wide, table).minimum
    if needed <= console.width:
        console.print(table)
        return
    size = console.size
    console.size = (needed, size.height)  # both: rich ignores a width alone on a dumb terminal
    try:
        console.print(table)
    finally:
        console.size = size
