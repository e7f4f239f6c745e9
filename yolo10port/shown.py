"""Text from inputs, made safe to print: never markup, never a terminal escape, one line where one is promised.

Paths, dump metadata, keys and class names come from files a user was given; printed through rich they would be
read as markup (`[/]` ends a style and raises, `[v2]` disappears as an unknown style) and an ESC byte would reach
the terminal raw (a title-setting or screen-clearing sequence). Everything that did not come from the tool itself
goes through `literal` (for rich) or `printable` (for plain output) before it is printed.

Torch-free and cheap: imported by the CLI's error handler and by `diff` in the light install.
"""

from __future__ import annotations

import re

# C0 controls (ESC among them), DEL, C1 controls, and the Unicode format characters that reorder or hide text
# (bidi overrides and isolates, zero-width joiners): shown as escapes, never passed through.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_CONTROL_OR_NEWLINE = re.compile(_CONTROL.pattern[:-1] + r"\n\t]")


def _escaped(match: re.Match) -> str:
    char = match.group()
    named = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, one_line: bool = False) -> str:
    """`text` with control characters shown as escapes (`\\x1b`); with one_line, newlines and tabs too."""
    return (_CONTROL_OR_NEWLINE if one_line else _CONTROL).sub(_escaped, str(text))


def literal(text: object, one_line: bool = False) -> str:
    """`text` for a rich console: control characters escaped (see `printable`) and markup shown as written."""
    from rich.markup import escape

    return escape(printable(text, one_line))
