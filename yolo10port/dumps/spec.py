"""One run's options as one value: what to feed, how deep to hook, in which precision and on which device.

The same `RunSpec` travels from the command line to the reference dump and to every candidate, so that both sides
of a comparison are run alike by construction (and a new option is added in one place).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from yolo10port.errors import InputError

REFERENCE_DTYPES = ("float32", "float64")  # what the reference network is run in
# A candidate may also run in half precision, to see what a float16/bfloat16 port costs against the floor.
CANDIDATE_DTYPES = ("float32", "float64", "float16", "bfloat16")
STRIDE = 32  # YOLOv10's largest stride: input sides must be multiples of it
BUNDLED_PHOTOS = ("bus.jpg", "zidane.jpg")  # ultralytics ships these; used when no such file exists here


def resolve_input(source: str) -> str:
    """What `--input`/`--inputs` feeds, the same for every command: `bus.jpg` or `zidane.jpg` that is not a file here
    is ultralytics' bundled photo (found without importing ultralytics); anything else is taken as given."""
    if source in BUNDLED_PHOTOS and not Path(source).exists():
        import importlib.util

        found = importlib.util.find_spec("ultralytics")
        if found is not None and found.origin:
            bundled = Path(found.origin).parent / "assets" / source
            if bundled.is_file():
                return str(bundled)
    return source


@dataclass(frozen=True)
class RunSpec:
    input: str = "ones"  # ones | zeros | random:SEED | an image path | a dump whose `input` tensor is reused
    imgsz: int = 640
    batch: int = 1
    square: bool = False  # images: letterbox to the full imgsz×imgsz square (a static-shape graph's input)
    depth: int | None = 1  # 1 = model.0…model.23; 2, 3… deeper; None = every module
    dtype: str = "float32"
    device: str = "cpu"  # cpu | cuda | cuda:N
    tf32: bool = False  # allow TensorFloat-32 on CUDA (a candidate's explicit choice; references never)
    with_inputs: bool = False  # also record each module's input as `<path>@input` (for isolated error)
    within: str | None = None  # hook only this module and its descendants (drill-down)
    max_det: int = 300

    def __post_init__(self) -> None:
        check_imgsz(self.imgsz)
        check_batch(self.batch)

    def but(self, **changes) -> RunSpec:
        """A copy with some options changed: `spec.but(depth=None, within="model.13")`."""
        return replace(self, **changes)

    @property
    def depth_label(self) -> str:
        return "all" if self.depth is None else str(self.depth)


def check_imgsz(imgsz: int) -> None:
    if imgsz <= 0 or imgsz % STRIDE:
        raise InputError("--imgsz", f"{imgsz} is not a positive multiple of {STRIDE}")


def check_batch(batch: int) -> None:
    if batch < 1:
        raise InputError("--batch", f"{batch} is not a positive batch size")


def parse_depth(depth: str | int | None) -> int | None:
    """`1` = the 24 top-level layers; `2`, `3`… go deeper; `all` (or None) = every module."""
    if depth is None or str(depth) == "all":
        return None
    if not str(depth).isdigit() or int(depth) < 1:
        raise InputError("--depth", f"{depth!r} is not a positive integer or 'all'")
    return int(depth)
