"""The `--input` value checked before any model is built: a seed that is a seed, a file that is a regular file, a
dump whose input tensor a YOLOv10 can take. Torch-free, so that a wrong input costs no network build (exit 2 first).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from yolo10port.dumps.spec import MAX_PIXELS, STRIDE
from yolo10port.errors import InputError
from yolo10port.safe_io import describe_os_error, regular_file

NAMED = ("ones", "zeros")


def check_seed(seed: str) -> int:
    """`random:SEED`'s seed: ASCII digits (isdigit() alone accepts '²') below 2^64, what torch's generator takes."""
    if not (seed.isascii() and seed.isdigit()) or len(seed) > 20 or int(seed) >= 1 << 64:
        raise InputError("--input", f"random seed {seed[:40]!r} is not an integer from 0 to 2^64 - 1")
    return int(seed)


def check_input_source(source: str) -> None:
    """What can be checked of `--input` without torch; make_input does the rest (and says what a name is not)."""
    if source in NAMED:
        return
    if source.startswith("random:"):
        check_seed(source.split(":", 1)[1])
        return
    path = Path(source)
    try:
        exists = path.exists()
    except OSError as error:  # a name longer than NAME_MAX
        raise InputError("--input", f"{source[:80]!r}…: {describe_os_error(error)}") from None
    if not exists:
        return
    if path.is_dir():
        raise InputError(path, "is a directory, not an image")
    regular_file(path, "image or dump")  # a FIFO or a device would block, or never end
    if path.suffix == ".safetensors":
        input_of_dump(path)
    else:
        read_image(path)  # a corrupt image: refused before a network is built (decoding twice costs milliseconds)


def input_of_dump(path: Path) -> np.ndarray:
    """The `input` tensor of a dump as float64, checked from the header before it is read: (B, 3, H, W), sides
    multiples of the stride (a 100×100 input would fail deep inside the network), within the bound on batch ×
    pixels; and finite."""
    from yolo10port.dumps.reader import DumpReader, read_dump_metadata

    read_dump_metadata(path)
    with DumpReader(path) as reader:
        if "input" not in reader.keys():
            raise InputError(path, "dump holds no 'input' tensor to reuse")
        shape = reader.shape("input")
        if len(shape) != 4 or shape[1] != 3:
            raise InputError(path, f"its input tensor has shape {shape}, not (B, 3, H, W)")
        batch, _, height, width = shape
        if not (height and width and height % STRIDE == 0 and width % STRIDE == 0):
            raise InputError(path, f"its input tensor is {height}×{width}; sides must be multiples of {STRIDE}")
        if batch < 1 or batch * height * width > MAX_PIXELS:
            raise InputError(path, f"its input tensor {shape} is beyond the bound of {MAX_PIXELS:,} pixels")
        if reader.dtype_code("input")[0] not in "FB":
            raise InputError(path, f"its input tensor is {reader.dtype_code('input')}, not floating point")
        with np.errstate(all="ignore"):
            array = reader.get("input").astype("float64")
    if not np.isfinite(array).all():
        raise InputError(path, "its input tensor holds NaN or Inf")
    return array


def read_image(path: str | Path) -> np.ndarray:
    """An image file as OpenCV reads it (H, W, 3) BGR uint8, as ultralytics' predictor does."""
    import cv2

    image = _without_decoder_noise(lambda: cv2.imread(str(regular_file(path, "image"))))
    if image is None:
        raise InputError(path, "cannot be read as an image")
    return image


def _without_decoder_noise(call):
    """Run `call` with file descriptor 2 sent to a scratch file: libpng and libjpeg inside OpenCV print their own
    warnings there ("libpng error: IHDR: CRC error"), which would come before, and break, the one-line error."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                return call()
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
