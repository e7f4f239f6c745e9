"""OpenVINO as a graph backend: a compiled model with the wanted values added as outputs by tensor name.

One module per runtime behind candidates/backend.py. The precision asked becomes OpenVINO's
INFERENCE_PRECISION_HINT; what the compiled model reports back is what it ran in (a CPU without f16/bf16 compiles
f32 whatever the hint), and that is what the dump records.
"""

from __future__ import annotations

import numpy as np
import onnx

from yolo10port.candidates.backend import Session
from yolo10port.candidates.backend import runtime_threads as _threads
from yolo10port.errors import InputError

OPENVINO_HINTS = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}
FROM_OPENVINO = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


class OpenVino:
    name = "openvino"

    def __init__(self, device: str, hint: str = "f32"):
        import openvino

        if device != "cpu":
            raise InputError("--device", f"{device}: the OpenVINO candidate runs on the CPU here; use --device cpu")
        self.device = device
        self.core = openvino.Core()
        self.version = openvino.__version__.split("-")[0]
        self.hint = hint  # asked; what the compiled model reports back is what it runs in (self.precision)
        self.precision = ""

    def session(self, model: onnx.ModelProto, outputs: list[str] | None = None) -> Session:
        """A compiled model on `model` that returns `outputs` (None: the graph's own), added by tensor name."""
        network = self.core.read_model(model.SerializeToString())
        present = {name for output in network.outputs for name in output.names}
        network.add_outputs([name for name in outputs or () if name not in present])  # tensor name = ONNX value
        # Explicit f32 unless asked otherwise: OpenVINO's CPU plugin defaults to bf16 on CPUs with AMX/AVX512-BF16,
        # a ~1e-2 error. A CPU without f16/bf16 support runs f32 whatever the hint; the read-back says which.
        compiled = self._compile(network)
        ports = [compiled.output(name) for name in outputs] if outputs else list(compiled.outputs)
        return lambda feeds: [np.asarray(array) for array in map(compiled(feeds).__getitem__, ports)]

    def _compile(self, network):
        """Compiled on the CPU with the hint; what it compiled to is read back (self.precision)."""
        config = {"INFERENCE_PRECISION_HINT": self.hint, "INFERENCE_NUM_THREADS": _threads()}
        compiled = self.core.compile_model(network, "CPU", config)
        compiled_to = compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type: f32, f16, bf16
        self.precision = compiled_to.to_string() if hasattr(compiled_to, "to_string") else str(compiled_to)
        return compiled

    def run(self, model: onnx.ModelProto, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        return self.session(model, outputs)(feeds)

    def metadata(self) -> dict[str, str]:
        meta = {"runtime": f"openvino {self.version}", "inference_precision": self.precision or self.hint}
        if self.hint != "f32":
            meta["inference_precision_hint"] = self.hint
        return meta

    @classmethod
    def for_run(cls, device: str, precision: str = "float32") -> OpenVino:
        if precision not in OPENVINO_HINTS:
            raise InputError("--precision", f"{precision}: OpenVINO's hint takes {', '.join(OPENVINO_HINTS)}")
        return cls(device, OPENVINO_HINTS[precision])

    adds_outputs_by_name = True  # it adds the wanted values as outputs itself, by tensor name

    def computes_in(self, graph_precision: str) -> str:
        """What the compiled model runs in (read back after compiling), else the hint."""
        compiled = self.precision or self.hint
        return FROM_OPENVINO.get(compiled, compiled)

    def ir_session(self, model, ports: list) -> Session:
        """A compiled copy of an OpenVINO IR (`model`, an openvino.Model already in memory) returning `ports`
        (output ports of `model` itself: a copy taken by the caller, since added outputs stay on the model)."""
        model.add_outputs([port for port in ports if _index_of(model, port) is None])
        compiled = self._compile(model)
        wanted = [_index_of(model, port) for port in ports]
        return lambda feeds: [np.asarray(array) for array in map(compiled(feeds).__getitem__, wanted)]


def _index_of(model, port) -> int | None:
    """Which output of `model` is `port`'s value (add_outputs appends a Result reading it), None if none."""
    for index, output in enumerate(model.outputs):
        source = output.get_node().input_value(0)
        if source.get_node().get_name() == port.get_node().get_name() and source.get_index() == port.get_index():
            return index
    return None
