"""The hint confusion table as a test (issue 22): every planted bug against every hint, one harness over all.

Each kind (the selftest bugs, and what outside ports got wrong: scores without or with two sigmoids, a swapped
Concat, a bilinear upsample, an INT8 graph, float16 declared or not, a BGR input) is dumped and diffed against the
reference; a hint must fire for its own kind and for no other, and a kind no hint claims must get none.
"""

from __future__ import annotations

import pytest

from yolo10port.compare import diff_dumps
from yolo10port.compare.hints import HINTS
from yolo10port.dumps.spec import RunSpec
from yolo10port.workflows.selftest.confusion import OWNERS, build_kinds, confusion_table, render, wrong_cells

SMALL = RunSpec(input="random:0", imgsz=64)  # the table holds at 64 and at 160 px (README)


@pytest.fixture(scope="module")
def planted(make_fixture, tmp_path_factory):
    reference, kinds = build_kinds(make_fixture("n"), SMALL, tmp_path_factory.mktemp("confusion"))
    return reference, kinds, confusion_table(reference, kinds)


def test_every_hint_fires_for_its_own_kind_and_no_other(planted):
    _, _, table = planted
    assert not wrong_cells(table), render(table)
    owners = {owner for owner in OWNERS.values() if owner}
    # accumulated and attention-int8 need isolated error (check; tests/test_int8_candidates.py for the latter)
    assert owners == {hint.name for hint in HINTS} - {"accumulated", "attention-int8"}
    assert set(OWNERS) <= set(table) and len(table) >= 24


def test_uncertain_hints_say_so_and_int8_on_noise_is_not_judged(planted):
    reference, kinds, _ = planted
    int8 = diff_dumps(reference, kinds["int8"], force=True).hint
    assert "consistent with a quantized (INT8) graph" in int8 and "random inputs cannot judge INT8" in int8
    eps = diff_dumps(reference, kinds["bn-eps-1e-5"], force=True).hint
    assert "consistent with BatchNorm eps" in eps
    declared = diff_dumps(reference, kinds["float16"], force=True).hint
    undeclared = diff_dumps(reference, kinds["float16-undeclared"], force=True).hint
    assert "computes in float16" in declared and "consistent with TF32 or float16" in undeclared
