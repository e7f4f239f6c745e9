"""Write one dump: the input, then each hooked module's output as produced, then the metadata.

A reference dump also carries its own noise floor: the same network is run a second time in the other precision
(float64 for a float32 dump), hooked the same way, and for every row the largest and the mean difference between
the two runs are recorded (`noise_floor`, `noise_floor_mean` in the metadata). That is how far float32 arithmetic
alone moves the real network on this very input, the scale `diff` judges a candidate's error against
(compare/rules.py).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from yolo10port.atomic import write_text_atomic
from yolo10port.dumps.capture import Recorder
from yolo10port.dumps.inputs import ModelInput
from yolo10port.dumps.keys import DETECTIONS, INPUT, is_input_key, rows_of
from yolo10port.dumps.summary import SummaryBuilder
from yolo10port.dumps.writer import StreamingSafetensorsWriter
from yolo10port.formats import DUMP_FORMAT

NOISE_FLOOR = "noise_floor"  # metadata key: JSON map row → max|float32 run − float64 run|
NOISE_FLOOR_MEAN = "noise_floor_mean"  # metadata key: JSON map row → mean|float32 run − float64 run|


def _to_numpy(tensor) -> np.ndarray:
    if isinstance(tensor, np.ndarray):
        return tensor
    return tensor.detach().to("cpu").double().numpy()


class FloorMeter:
    """Receives the twin run's tensors and measures each against the one already written under the same key."""

    def __init__(self, writer: StreamingSafetensorsWriter):
        self.writer = writer
        self.floors: dict[str, float] = {}
        self.mean_floors: dict[str, float] = {}

    def sink(self, key: str, tensor) -> None:
        if key in (INPUT, DETECTIONS) or is_input_key(key) or key not in self.writer:
            return  # the input is given, detections are matched (not compared elementwise), inputs not compared
        written = self.writer.read_back(key)
        twin = _to_numpy(tensor)
        if written.shape != twin.shape:
            return
        for (row, a), (_, b) in zip(rows_of(key, written), rows_of(key, twin)):
            if a.size:
                difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
                with warnings.catch_warnings():  # an all-NaN row (NaN weights) has a NaN floor: no warning line
                    warnings.simplefilter("ignore", RuntimeWarning)
                    self.floors[row] = float(np.nanmax(difference))
                    self.mean_floors[row] = float(np.nanmean(difference))


def stream_dump(
    out: str | Path,
    model_input: ModelInput,
    forward: Callable[[Recorder], None],
    metadata: dict[str, str],
    summary_path: str | Path | None = None,
    twin: Callable[[Recorder], None] | None = None,
    twin_label: str = "",
    precision_twins: dict[str, tuple[Callable[[Recorder], None], str]] | None = None,
) -> Path:
    """Run `forward(recorder)` and stream everything it records to `out` (atomic: no partial file on failure).

    `twin(recorder)`, when given, runs the same network in the other precision; its outputs are not written but
    measured against the written ones, and the per-row noise floor goes into the metadata. `precision_twins`
    (precision → (run, label)) add one floor per reduced precision, `noise_floor@<precision>`: how far that run
    moves each row from the written one (compare/precision.py).
    """
    writer: StreamingSafetensorsWriter | None = None
    summary = SummaryBuilder() if summary_path else None

    def sink(key: str, tensor) -> None:
        writer.add(key, tensor)
        if summary:
            summary.add(key, tensor)

    try:  # the writer is made inside: a Ctrl-C between its scratch file and this block would leave the file
        writer = StreamingSafetensorsWriter(out)
        recorder = Recorder(sink)
        recorder.record(INPUT, model_input.tensor, "input")
        forward(recorder)
        full = {
            **metadata,
            "format": DUMP_FORMAT,
            "input": model_input.spec,
            "dtype": str(model_input.tensor.dtype).removeprefix("torch."),
            "order": json.dumps(writer.order),
            "module_types": json.dumps(recorder.module_types, sort_keys=True),
        }
        if twin is not None:
            meter = FloorMeter(writer)
            twin(Recorder(meter.sink))
            full[NOISE_FLOOR] = json.dumps(meter.floors)
            full[NOISE_FLOOR_MEAN] = json.dumps(meter.mean_floors)
            full["noise_floor_by"] = twin_label
        for precision, (run, label) in (precision_twins or {}).items():
            meter = FloorMeter(writer)
            run(Recorder(meter.sink))
            full[f"{NOISE_FLOOR}@{precision}"] = json.dumps(meter.floors)
            full[f"{NOISE_FLOOR_MEAN}@{precision}"] = json.dumps(meter.mean_floors)
            full[f"noise_floor_by@{precision}"] = label
        path = writer.close(full)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if summary:
        write_text_atomic(summary_path, summary.to_json(full))
    return path
