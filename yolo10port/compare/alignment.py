"""Which candidate key answers which reference key, when the two sides were not built alike.

Depth 1 keys (`model.0` … `model.23`) mean the same on every side. Inside a layer, fusion changes what some
modules compute: in a fused network a Conv's `conv` already includes its BatchNorm (the unfused side's `bn`
output), and RepVGGDW's two branches are one convolution. Comparing those keys by name would report a bug that is
not there, so they are paired by meaning (`X.bn` of the unfused side with `X.conv` of the fused one), and the keys
that have no counterpart are listed as such, never silently dropped and never failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Alignment:
    pairs: dict[str, str] = field(default_factory=dict)  # reference key → candidate key
    not_comparable: dict[str, str] = field(default_factory=dict)  # reference key → why it has no counterpart
    note: str | None = None


def is_fused(meta: dict[str, str], keys: list[str]) -> bool:
    """Whether a dump comes from a network whose BatchNorms are folded: its metadata says, or its keys show it."""
    if meta.get("fused") in ("true", "false"):
        return meta["fused"] == "true"
    return not any(key.endswith(".bn") for key in keys)


def _has_submodules(keys: list[str]) -> bool:
    return any(key.startswith("model.") and key.count(".") >= 2 for key in keys)


def _repvggdw_branches(types: dict[str, str], keys: list[str]) -> dict[str, str]:
    branches = {}
    for path in (p for p, kind in types.items() if kind == "RepVGGDW"):
        for key in keys:
            if key.startswith((f"{path}.conv.", f"{path}.conv1")) or key == f"{path}.conv":
                branches[key] = f"RepVGGDW's 7×7 and 3×3 branches are one conv in a fused network (compared at {path})"
    return branches


def align_keys(
    order: list[str], cand_keys: list[str], ref_meta: dict, cand_meta: dict, types: dict[str, str]
) -> Alignment:
    """Pair each reference key (in `order`) with the candidate key that holds the same quantity."""
    candidate = set(cand_keys)
    alignment = Alignment()
    ref_fused, cand_fused = is_fused(ref_meta, order), is_fused(cand_meta, cand_keys)
    if ref_fused == cand_fused or not (_has_submodules(order) and _has_submodules(cand_keys)):
        alignment.pairs = {key: key for key in order if key in candidate}
        return alignment
    alignment.not_comparable = _repvggdw_branches(types, order)
    reference = set(order)
    for key in order:
        if key in alignment.not_comparable:
            continue
        if not ref_fused and key.endswith(".bn") and key[:-3] + ".conv" in reference:
            # conv → BatchNorm in the reference; one folded conv in the candidate: its output is the bn output.
            if key[:-3] + ".conv" in candidate:
                alignment.pairs[key] = key[:-3] + ".conv"
            alignment.not_comparable[key[:-3] + ".conv"] = (
                f"the convolution before BatchNorm: folded into one conv in the fused candidate (compared at {key})"
            )
        elif ref_fused and key.endswith(".conv") and key[:-5] + ".bn" in candidate:
            alignment.pairs[key] = key[:-5] + ".bn"
        elif key in candidate and key not in alignment.pairs.values():
            alignment.pairs.setdefault(key, key)
    for key in list(alignment.pairs):
        if key in alignment.not_comparable:
            del alignment.pairs[key]
    sides = ("unfused", "fused") if cand_fused else ("fused", "unfused")
    alignment.note = (
        f"the reference is {sides[0]} and the candidate {sides[1]}: conv outputs are compared after BatchNorm, "
        f"and {len(alignment.not_comparable)} keys inside fused modules have no counterpart (listed)"
    )
    return alignment
