"""A planted weight bug in a runtime's own file: the proof that `check` catches a wrong export of every scale.

`selftest` plants its bugs in the clean model; an ncnn or LiteRT export is another file, converted by another tool,
and the question for a porter is whether a converter that scaled one conv's weights would be caught there. This
edits a copy of the export the way a broken converter would (one conv's weights × factor, found in the ncnn .bin by
the structural map, in the .tflite flatbuffer by the tensor's bytes) and runs `check` on it:

    python -m yolo10port.workflows.selftest.planted build/litert/yolov10s-160.pt build/litert/yolov10s-160.tflite \
        --imgsz 160

prints where it failed first and how far past the limit, and exits 0 only when that is the planted layer.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_CONV = "model.13.cv1.conv"


def plant_litert(model: Path, out: Path, conv_path: str = DEFAULT_CONV, factor: float = 1.001) -> Path:
    """A copy of a .tflite with `conv_path`'s filter scaled, found by its bytes (they occur exactly once)."""
    from yolo10port.candidates.litert import LiteRtCandidate, LiteRtRuntime

    candidate = LiteRtCandidate.open(model)
    interpreter = LiteRtRuntime(model, {"resolver": "builtin", "num_threads": 1}).interpreter
    conv_output = candidate.lmap.values[conv_path]
    op = next(o for o in interpreter._get_ops_details() if conv_output in o["outputs"])
    weights = np.asarray(interpreter.get_tensor(int(op["inputs"][1])))
    data = model.read_bytes()
    start = data.find(weights.tobytes())
    if start < 0 or data.find(weights.tobytes(), start + 1) >= 0:
        raise ValueError(f"{conv_path}'s filter is not stored exactly once in {model.name}")
    scaled = (weights * np.float32(factor)).astype(weights.dtype).tobytes()
    out.write_bytes(data[:start] + scaled + data[start + len(scaled) :])
    return out


def plant_ncnn(
    folder: Path, into: Path, scale: str, nc: int, imgsz: int, conv_path: str = DEFAULT_CONV, factor: float = 1.001
) -> Path:
    """A copy of an ncnn model folder with `conv_path`'s weights scaled in the .bin (located by the structural map)."""
    from yolo10port.candidates.ncnn_map import conv_spans, map_param, read_param

    shutil.copytree(folder, into)
    param = read_param(into / "model.ncnn.param")
    index = map_param(param, scale, nc, imgsz).conv_layers[conv_path]
    data = bytearray((into / "model.ncnn.bin").read_bytes())
    offset, count, dtype = conv_spans(param, bytes(data), into)[index]
    weights = np.frombuffer(data, dtype, count, offset) * np.float32(factor)
    data[offset : offset + weights.nbytes] = weights.astype(dtype).tobytes()
    (into / "model.ncnn.bin").write_bytes(bytes(data))
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, help="the weights the export was made from")
    parser.add_argument("export", type=Path, help="a .tflite file or an ncnn model folder")
    parser.add_argument("--imgsz", type=int, required=True, help="the export's (static) input size")
    parser.add_argument("--input", default="random:0")
    parser.add_argument("--conv", default=DEFAULT_CONV, help="the conv whose weights are scaled")
    parser.add_argument("--factor", type=float, default=1.001)
    args = parser.parse_args(argv)

    from yolo10port.dumps.spec import RunSpec
    from yolo10port.weights.reader import read_weights
    from yolo10port.workflows.check import run_check

    layer = ".".join(args.conv.split(".")[:2])
    with tempfile.TemporaryDirectory(prefix="yolo10port-planted-") as scratch:
        work = Path(scratch)
        options: list[str] = []
        if args.export.suffix == ".tflite":
            buggy = plant_litert(args.export, work / "buggy.tflite", args.conv, args.factor)
        else:
            weights = read_weights(args.weights)
            buggy = plant_ncnn(
                args.export, work / "buggy_ncnn_model", weights.scale, weights.nc, args.imgsz, args.conv, args.factor
            )
            options = ["use_winograd_convolution=false"]  # float32's floor judges: the strictest setting
        spec = RunSpec(input=args.input, imgsz=args.imgsz)
        report = run_check(args.weights, work / "check", spec, candidate=str(buggy), runtime_options=options).report
    row = next((r for r in report.layers if r.name == report.first_failure), None)
    pairs = [] if row is None else [(row.max_abs, row.limit), (row.mean_abs, row.mean_limit)]
    ratios = [error / limit for error, limit in pairs if error is not None and limit]
    excess = f"{max(ratios):.1f}×" if ratios else "—"  # the test that failed it: max-abs or mean-abs
    print(
        f"{args.export.name}: {args.conv} × {args.factor:g} on {args.input}: first failure "
        f"{report.first_failure or 'none'} ({excess} past its limit), culprit {report.culprit or '—'}"
    )
    return 0 if report.first_failure == layer else 1


if __name__ == "__main__":
    sys.exit(main())
