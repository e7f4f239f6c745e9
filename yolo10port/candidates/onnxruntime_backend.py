"""ONNX Runtime as a graph backend: a session on an ONNX model proto whose outputs are the values wanted.

One module per runtime behind candidates/backend.py: the graph candidate (candidates/graph.py) asks this one for a
session that returns any value of the graph by name, on the CPU or a CUDA provider. `precision` is the graph's own
(a float16 graph is converted before it gets here), so the runtime has nothing to set for it.
"""

from __future__ import annotations

import numpy as np
import onnx

from yolo10port.candidates.backend import Session
from yolo10port.candidates.backend import runtime_threads as _threads
from yolo10port.errors import InputError


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, device: str):
        import onnxruntime

        self.ort = onnxruntime
        self.version = onnxruntime.__version__
        self.device = device
        if device == "cpu":
            self.providers: list = ["CPUExecutionProvider"]
        elif device.startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            index = int(device.partition(":")[2] or 0)
            self.providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        else:
            raise InputError(
                "--device", f"{device}: this onnxruntime has no CUDA provider (onnxruntime-gpu); use --device cpu"
            )

    def session(self, model: onnx.ModelProto, outputs: list[str] | None = None) -> Session:
        """A session on `model` that returns `outputs` (None: the graph's own) for a dict of inputs."""
        # Graph optimizations stay on (what a user's deployment runs); asking for intermediate values as outputs
        # can still keep some fusions from happening across them (see the candidate's notes).
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        # No busy-waiting between ops: on a shared CI core, spinning threads only steal time from everyone else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initializers of an extracted subgraph are noise
        session = self.ort.InferenceSession(model.SerializeToString(), options, providers=self.providers)
        return lambda feeds: session.run(outputs, feeds)

    def run(self, model: onnx.ModelProto, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        return self.session(model, outputs)(feeds)

    def metadata(self) -> dict[str, str]:
        return {"runtime": f"onnxruntime {self.version}", "providers": ",".join(map(str, self.providers))}

    @classmethod
    def for_run(cls, device: str, precision: str = "float32") -> OnnxRuntime:
        return cls(device)  # the graph carries its precision (candidates/graph.py converts it to float16)

    adds_outputs_by_name = False  # the candidate adds the wanted values to the graph as outputs

    def computes_in(self, graph_precision: str) -> str:
        return graph_precision
