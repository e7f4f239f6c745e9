"""The tolerance options of `diff` and `check`, one definition each, their defaults read from the rule's own
constants (compare/rules.py) so that `--help` cannot drift from what judges."""

from __future__ import annotations

from typing import Annotated

import typer

from yolo10port.compare.rules import DEFAULT_ATOL, DEFAULT_RTOL, K_MEAN, K


def short_number(value: float) -> str:
    """1e-05 → 1e-5, 0.0001 → 1e-4: how README and the printed rule write the fixed rule's defaults."""
    mantissa, _, exponent = f"{value:.0e}".partition("e")
    return f"{mantissa}e{int(exponent)}"


KOption = Annotated[
    float | None,
    typer.Option(help=f"floor rule: the multiple of the noise floor allowed on max-abs (default {K:g})"),
]
KMeanOption = Annotated[
    float | None,
    typer.Option(
        "--k-mean", help=f"floor rule: the multiple of the mean noise floor allowed on mean-abs (default {K_MEAN:g})"
    ),
]
AtolOption = Annotated[
    float | None, typer.Option(help=f"fixed rule: absolute tolerance (default {short_number(DEFAULT_ATOL)})")
]
RtolOption = Annotated[
    float | None, typer.Option(help=f"fixed rule: × max|reference| of the row (default {short_number(DEFAULT_RTOL)})")
]
