"""`--require`: which keys the candidate must hold. A pattern that names no key of the reference is a typo that
would otherwise pass silently in CI, so it is an input error (exit 2) naming the pattern."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from yolo10port.dumps.keys import DECODED_HEAD
from yolo10port.errors import InputError

HEAD_ROWS = (f"{DECODED_HEAD}/boxes", f"{DECODED_HEAD}/scores")  # rows a user may name for the decoded head


def _matches(key: str, pattern: str) -> bool:
    return key == pattern or fnmatch.fnmatchcase(key, pattern)


def require_matcher(require: str | None, reference_keys: Iterable[str]) -> Callable[[str], bool]:
    """`all`, or a comma-separated list of keys (globs allowed): a predicate saying which missing keys fail.

    Every pattern must match at least one key (or head row) of the reference; otherwise exit 2 naming it."""
    if not require:
        return lambda _key: False
    if require.strip() == "all":
        return lambda _key: True
    wanted = [part.strip() for part in require.split(",") if part.strip()]
    if not wanted:
        raise InputError("--require", f"{require!r} names no key: give all, or KEY,… (globs allowed)")
    keys = list(reference_keys)
    known = keys + [row for row in HEAD_ROWS if DECODED_HEAD in keys]
    for pattern in wanted:
        if not any(_matches(key, pattern) for key in known):
            example = ", ".join(keys[:3]) + ("…" if len(keys) > 3 else "")
            raise InputError("--require", f"{pattern!r} matches no key of the reference (its keys: {example}); a typo?")

    def is_required(key: str) -> bool:
        rows = HEAD_ROWS if key == DECODED_HEAD else ()
        return any(_matches(name, pattern) for pattern in wanted for name in (key, *rows))

    return is_required
