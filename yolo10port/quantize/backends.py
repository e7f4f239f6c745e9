"""The two quantizers, driven the same way: a float graph, calibration images, and node names to leave in float.

- onnxruntime: `quant_pre_process` (with `skip_symbolic_shape=True`: its symbolic shape inference crashes on the
  head's TopK), then `quantize_static` in QDQ format, weights int8 per channel, activations as ACTIVATION_TYPE says,
  MinMax calibration. The calibration ranges are computed once and cached (`calibration_cache_path`), so the many
  re-quantizations of a sensitivity ranking cost the QDQ rewrite only, not the calibration run.
- nncf: `nncf.quantize` on the ONNX model with `IgnoredScope(names=…)` (its QDQ output runs under ONNX Runtime too).

Both are given the same node names (read from the float graph by scope.py); the top-k part after the head is always
among them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from yolo10port.errors import InputError

BACKENDS = ("onnxruntime", "nncf")
# Measured on the shapes detector (README, INT8 ports): uint8 activations (asymmetric: SiLU outputs are mostly ≥ 0,
# so a symmetric int8 range wastes half its codes) kept more mAP than int8 activations; weights symmetric int8.
ACTIVATION_TYPE = "uint8"


@contextlib.contextmanager
def _quiet():
    """The quantizers log a line per tensor and warn about pre-processing: keep stdout/stderr for our own lines."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def pre_process(float_graph: Path, out: Path) -> Path:
    """ONNX Runtime's recommended preparation (shape inference, basic optimization); node names are kept."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet():
        quant_pre_process(str(float_graph), str(out), skip_symbolic_shape=True)
    return out


def quantize_onnxruntime(
    prepared: Path,
    out: Path,
    reader,
    exclude: list[str],
    cache: Path,
    activation_type: str = ACTIVATION_TYPE,
    only: list[str] | None = None,
) -> Path:
    """QDQ int8 with `exclude` (node names) left in float, or only the nodes `only` quantized; the calibration
    ranges come from `cache` once written."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if reader is not None:
        reader.rewind()
    with _quiet():
        quantize_static(
            str(prepared),
            str(out),
            calibration_data_reader=reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude),
            nodes_to_quantize=list(only or []),
            calibrate_method=CalibrationMethod.MinMax,
            calibration_cache_path=str(cache),
        )
    return out


def nncf_available() -> bool:
    try:
        import nncf  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def quantize_nncf(float_graph: Path, out: Path, reader, exclude: list[str]) -> Path:
    """nncf.quantize (its default preset: symmetric int8) with IgnoredScope(names=exclude)."""
    try:
        import nncf
    except ModuleNotFoundError:
        raise InputError("--backend", "nncf is not installed: pip install 'yolo10port[int8]'") from None
    import onnx

    model = onnx.load(str(float_graph))
    batches = list(reader.batches())
    with _quiet():
        quantized = nncf.quantize(
            model,
            nncf.Dataset(batches),
            subset_size=len(batches),
            ignored_scope=nncf.IgnoredScope(names=list(exclude), validate=True),
        )
    onnx.save(quantized, str(out))
    return out


class Quantizer:
    """One backend ready to quantize one float graph many times: `quantizer(out, exclude=…, only=…)`."""

    def __init__(self, backend: str, float_graph: Path, scratch: Path, reader, all_nodes: list[str]):
        if backend not in BACKENDS:
            raise InputError("--backend", f"{backend!r} is not one of {', '.join(BACKENDS)}")
        if backend == "nncf" and not nncf_available():
            raise InputError("--backend", "nncf is not installed: pip install 'yolo10port[int8]'")
        self.backend, self.float_graph, self.reader, self.all_nodes = backend, float_graph, reader, all_nodes
        self.cache = scratch / "calibration-ranges.json"
        self.prepared = pre_process(float_graph, scratch / "prepared.onnx") if backend == "onnxruntime" else None

    def settings(self) -> dict:
        if self.backend == "onnxruntime":
            return {
                "pre_process": "quant_pre_process(skip_symbolic_shape=True)",
                "quant_format": "QDQ",
                "per_channel": True,
                "activation_type": "QUInt8" if ACTIVATION_TYPE == "uint8" else "QInt8",
                "weight_type": "QInt8",
                "calibrate_method": "MinMax",
            }
        return {"preset": "nncf default (performance: symmetric int8)", "subset_size": len(self.reader)}

    def __call__(self, out: Path, exclude: list[str], only: list[str] | None = None) -> Path:
        if self.backend == "onnxruntime":
            return quantize_onnxruntime(self.prepared, out, self.reader, exclude, self.cache, only=only)
        if only is not None:  # NNCF has no "only these": ignore every other node
            kept = set(only)
            exclude = sorted(set(exclude) | {name for name in self.all_nodes if name not in kept})
        return quantize_nncf(self.float_graph, out, self.reader, exclude)
