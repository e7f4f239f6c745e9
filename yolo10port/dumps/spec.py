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


# The work a run may ask for, checked before any tensor exists: batch × imgsz² pixels. 2^25 pixels is 81 images at
# 640 or one at 5760; its input tensor alone is 384 MB in float32, and a depth-1 dump of x holds ~60 floats per
# pixel (~8 GB). Larger runs are refused with what they would need rather than started and killed.
MAX_IMGSZ = 8192
MAX_BATCH = 4096
MAX_PIXELS = 1 << 25


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
        check_pixels(self.imgsz, self.batch)

    def but(self, **changes) -> RunSpec:
        """A copy with some options changed: `spec.but(depth=None, within="model.13")`."""
        return replace(self, **changes)

    @property
    def depth_label(self) -> str:
        return "all" if self.depth is None else str(self.depth)


def _input_gb(imgsz: int, batch: int) -> str:
    return f"{batch * 3 * imgsz * imgsz * 4 / 1e9:,.1f} GB"


def check_imgsz(imgsz: int) -> None:
    if imgsz <= 0 or imgsz % STRIDE:
        raise InputError("--imgsz", f"{imgsz} is not a positive multiple of {STRIDE}")
    if imgsz > MAX_IMGSZ:
        raise InputError(
            "--imgsz",
            f"{imgsz} would need {_input_gb(imgsz, 1)} for one float32 input image alone and several times that "
            f"per layer; the bound is {MAX_IMGSZ}",
        )


def check_batch(batch: int) -> None:
    if batch < 1:
        raise InputError("--batch", f"{batch} is not a positive batch size")
    if batch > MAX_BATCH:
        raise InputError("--batch", f"{batch} is larger than {MAX_BATCH}, the bound for a batch")


def check_pixels(imgsz: int, batch: int) -> None:
    """batch × imgsz² within MAX_PIXELS: say what the run would need before trying."""
    if batch * imgsz * imgsz > MAX_PIXELS:
        raise InputError(
            "--batch",
            f"{batch} × {imgsz}×{imgsz} is {batch * imgsz * imgsz:,} pixels: {_input_gb(imgsz, batch)} for the float32 "
            f"input alone and several times that per layer; the bound is batch × imgsz² ≤ {MAX_PIXELS:,} pixels",
        )


def parse_depth(depth: str | int | None) -> int | None:
    """`1` = the 24 top-level layers; `2`, `3`… go deeper; `all` (or None) = every module."""
    if depth is None or str(depth) == "all":
        return None
    if not str(depth).isdigit() or int(depth) < 1:
        raise InputError("--depth", f"{depth!r} is not a positive integer or 'all'")
    return int(depth)
