"""The hint confusion table: every planted bug against every hint (issue 22; tests/test_hints_confusion.py).

Each kind of bug is planted in the clean model (or, for an input or precision mistake, in how it is run), dumped,
diffed against the reference, and every hint's detector is asked whether it fires. A hint must fire for its own
cause and for no other: the expected owner of each kind is part of the table.

    python -m yolo10port.workflows.selftest.confusion MODEL [--imgsz 160] [--input random:0]
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from safetensors import safe_open
from safetensors.numpy import save_file

from yolo10port.candidates.clean import dump_model, load_clean_model
from yolo10port.compare import diff_dumps
from yolo10port.compare.hints import HINTS, firing
from yolo10port.dumps.spec import RunSpec
from yolo10port.reference.dump import dump_reference
from yolo10port.workflows.selftest.mutations import MUTATIONS, OUTSIDE_BUGS, WEIGHT_MUTATIONS

# kind → the hint that owns it (None: no hint claims this kind; then none may fire).
OWNERS: dict[str, str | None] = {
    "rgb-bgr": "stem-rearranged",
    "hw-transpose": "stem-rearranged",
    "bn-eps-1e-5": "systematic-stem",
    "weight×1.001-model.0": "systematic-stem",
    "silu-relu": "activation",
    "anchor-offset-0": "anchor-offset",
    "scores-no-sigmoid": "no-sigmoid",
    "scores-sigmoid-twice": "sigmoid-twice",
    "concat-swapped": "concat-order",
    "upsample-bilinear": "upsample-mode",
    "int8": "quantized",  # an INT8 port that does not say so: judged by the float floor, the hint names it
    "int8-declared": None,  # one that says so (precision int8): diagnosis rows, and no float story may fire
    "int8-head-concat": "head-concat",  # one whose decoded head went through one uint8 scale for boxes and scores
    "float16": "precision",
    "float16-undeclared": "precision",
    "input-bgr": "input",
}
WEIGHT_SAMPLES = ("weight×1.001-model.0", "weight×1.001-model.16")


def _rewrite(source: Path, target: Path, tensors=None, meta=None) -> Path:
    with safe_open(str(source), "np") as f:
        data = {k: f.get_tensor(k) for k in f.keys()}
        metadata = dict(f.metadata())
    data = tensors(data) if tensors else data
    metadata = meta(metadata) if meta else metadata
    save_file(data, str(target), metadata)
    return target


def one_uint8_scale(array):
    """What a QDQ graph does to the decoded head when its Concat is quantized: one asymmetric uint8 scale over boxes
    (pixels) and scores (0–1) together."""
    low, high = float(array.min()), float(array.max())
    step = (high - low) / 255 or 1.0
    return ((array - low) / step).round().clip(0, 255) * step + low


def build_kinds(model: Path, spec: RunSpec, folder: Path) -> tuple[Path, dict[str, Path]]:
    """The reference dump and one candidate dump per kind of bug."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = folder / "reference.safetensors"
    if not reference.exists():  # with the Winograd floor: no planted bug may pass for a fast kernel's rounding
        dump_reference(model, reference, spec, floors=("winograd",))
    kinds: dict[str, Path] = {}
    planted = [m for m in MUTATIONS if m.name != "class-score-0.03"] + list(OUTSIDE_BUGS)
    planted += [m for m in WEIGHT_MUTATIONS if m.name in WEIGHT_SAMPLES]
    planted += [m for m in MUTATIONS if m.name == "class-score-0.03"]
    loaded, weights = load_clean_model(model)  # loaded once; each bug is planted in a copy
    for mutation in planted:
        clean = copy.deepcopy(loaded)
        if mutation.layer_in(clean) is None:
            continue
        mutation.plant(clean, weights.state_dict)
        kinds[mutation.name] = dump_model(clean, weights.source_sha256, folder / f"{mutation.name}.safetensors", spec)
    clean = loaded
    honest = dump_model(clean, weights.source_sha256, folder / "honest.safetensors", spec)
    kinds["float16"] = dump_model(
        clean, weights.source_sha256, folder / "float16.safetensors", spec.but(dtype="float16")
    )
    kinds["float16-undeclared"] = _rewrite(
        kinds["float16"],
        folder / "float16-undeclared.safetensors",
        meta=lambda m: {k: v for k, v in m.items() if k != "dtype"} | {"producer": "a-numpy-port"},
    )
    if "int8" in kinds:
        declared = lambda m: m | {"precision": "int8"}  # noqa: E731
        kinds["int8-declared"] = _rewrite(kinds["int8"], folder / "int8-declared.safetensors", meta=declared)
        kinds["int8-head-concat"] = _rewrite(  # the body exact, so only the head's one scale is at work
            honest,
            folder / "int8-head-concat.safetensors",
            tensors=lambda t: t | {"model.23": one_uint8_scale(t["model.23"])},
            meta=declared,
        )
    kinds["input-bgr"] = _rewrite(
        honest, folder / "input-bgr.safetensors", tensors=lambda t: t | {"input": t["input"][:, ::-1].copy()}
    )
    return reference, kinds


def confusion_table(reference: Path, kinds: dict[str, Path]) -> dict[str, list[str]]:
    """kind → the hints that fire on its diff."""
    return {kind: firing(diff_dumps(reference, path, force=True)) for kind, path in kinds.items()}


def wrong_cells(table: dict[str, list[str]]) -> list[str]:
    """Every cell that breaks the rule: a kind whose own hint is silent, or a hint firing for another kind."""
    wrong = []
    for kind, fired in table.items():
        owner = OWNERS.get(kind)
        if owner is not None and owner not in fired:
            wrong.append(f"{kind}: {owner} silent")
        wrong += [f"{kind}: {name} fires" for name in fired if name != owner]
    return wrong


def render(table: dict[str, list[str]]) -> str:
    names = [hint.name for hint in HINTS]
    lines = ["| kind | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for kind, fired in table.items():
        owner = OWNERS.get(kind)
        cells = ["**✓**" if name == owner and name in fired else ("✗ missed" if name == owner else (
            "✗ FIRES" if name in fired else "·")) for name in names]  # fmt: skip
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="the hint confusion table")
    parser.add_argument("model", type=Path)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--input", default="random:0")
    parser.add_argument("--folder", type=Path, default=Path("build/confusion"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = RunSpec(input=args.input, imgsz=args.imgsz)
    reference, kinds = build_kinds(args.model, spec, args.folder / args.input.replace(":", "-"))
    table = confusion_table(reference, kinds)
    print(render(table))
    wrong = wrong_cells(table)
    print(f"{len(table)} kinds × {len(HINTS)} hints on {args.input}: {len(wrong)} wrong cells" + (
        ": " + "; ".join(wrong) if wrong else ""))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"input": args.input, "table": table, "wrong": wrong}, indent=1))
    raise SystemExit(1 if wrong else 0)


if __name__ == "__main__":
    main()
