"""An OpenVINO IR (model.xml + model.bin) as a candidate: OpenVINO runs it, every module's output named by path.

What `nncf.quantize(ov_model, …)` + `openvino.save_model` and ultralytics' `export(format='openvino')` write. The
IR is mapped as its ONNX source would be (candidates/ir_graph.py), run with the wanted ports added as outputs, and
judged as an ONNX graph under OpenVINO is: float rows by the floor of the precision it ran in, rows of an IR with
FakeQuantize ops (an INT8 port) by SQNR/PCC diagnosis, the verdict from `val`. Isolated error cuts each module out of
a copy of the model (its input edges replaced by Parameters) and feeds it the reference's recorded inputs, as the
ONNX candidate does with extracted subgraphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo10port.candidates.backend import graph_runtime as make_runtime
from yolo10port.candidates.graph import GraphCandidate, fit_input, for_weights, graph_scale
from yolo10port.candidates.ir_graph import IrGraph, fake_quantizes, ir_scheme_json, read_ir
from yolo10port.candidates.onnx_graph import map_graph
from yolo10port.dumps.spec import RunSpec
from yolo10port.weights.reader import Weights


@dataclass
class IrCandidate(GraphCandidate):
    """An OpenVINO IR run by OpenVINO (the only runtime that reads one)."""

    @classmethod
    def open_ir(
        cls, path: str | Path, device: str = "cpu", spec: RunSpec | None = None, precision: str = "float32"
    ) -> IrCandidate:
        path = Path(path)
        graph = IrGraph(read_ir(path), path)
        gmap = map_graph(graph)
        if graph.from_torch:
            drop_module_lists(gmap)
        if spec is not None:
            fit_input(path, gmap, spec, auto_square=True)
        engine = make_runtime("openvino", device, precision)
        version = ".".join(engine.version.split(".")[:2])
        label = f"OpenVINO {version} on {path.name} (IR)"
        return cls(path, gmap, engine, "openvino", label, graph_scale(gmap), notes=list(gmap.notes)).noting_scale()

    def check_spec(self, spec: RunSpec) -> None:
        from yolo10port.errors import InputError

        if spec.dtype != "float32":
            raise InputError("--dtype", f"{spec.dtype}: an OpenVINO IR runs in its own precision (use --precision)")
        if spec.tf32:
            raise InputError("--tf32", "applies to the clean model on CUDA, not to an OpenVINO IR")

    def quantization(self) -> str:
        return ir_scheme_json(self.graph) if fake_quantizes(self.graph) else ""

    def precision(self) -> str:
        """int8 with FakeQuantize ops (OpenVINO runs them as 8-bit through its low-precision transformations);
        else what the compiled model reports back, float16 when the weights are stored compressed to float16
        (`save_model`'s default: f32 arithmetic on f16-rounded weights, judged by the float16 floor)."""
        if fake_quantizes(self.graph):
            return "int8"
        compiled = self.runtime.computes_in("float32")
        return "float16" if compiled == "float32" and self.stem_source() == "f16" else compiled

    def stem_source(self) -> str:
        """The element type the stem conv's weight is stored in (f16, i8, f32), "" when not found."""
        for i, node in enumerate(self.graph.nodes):
            if node.op_type == "Conv" and self.graph.keys_of[i][-1:] == ["model.0.conv"] and len(node.input) > 1:
                return self.graph.weight_source(node.input[1])
        return ""

    def _run(self, feeds: dict[str, np.ndarray], values: list[str]) -> list[np.ndarray]:
        copy = self.graph.ov_model.clone()  # outputs added to a copy: the model itself stays as read
        ports = self.graph.ports_in(copy)
        session = self.runtime.ir_session(copy, [ports[value] for value in values])
        return session({self.graph.inputs.index(name): array for name, array in feeds.items()})

    # -- isolated error: modules cut out of a copy of the model --------------------------------------------------

    def _run_batch(self, batch: list) -> list[tuple[str, np.ndarray]]:
        """Each group of modules that share no op is cut out of one copy and compiled once."""
        groups: list[tuple[set[str], list]] = []
        for job in batch:
            ops = {node.name + "\0" + node.output[0] for node in job[1].nodes}
            group = next((g for g in groups if not g[0] & ops), None)
            if group is None:
                groups.append((set(ops), [job]))
            else:
                group[0].update(ops)
                group[1].append(job)
        results = []
        for _, jobs in groups:
            results += self._run_cut(jobs)
        return results

    def _recorded_feeds(self, key: str, inputs: list[str], reader, sources: dict[str, str]):
        """As for an ONNX graph, less the shapes read from another module (OpenVINO merges identical ShapeOf ops
        across modules: the head's anchors read model.10's): those are constants, not recorded values."""
        shapes = [value for value in inputs if self._static_shape(value) is not None]
        return super()._recorded_feeds(key, [v for v in inputs if v not in shapes], reader, sources)

    def _static_shape(self, value: str) -> np.ndarray | None:
        port = self.graph.ports.get(value)
        if port is None or port.get_node().get_type_name() != "ShapeOf":
            return None
        shape = port.get_node().input_value(0).get_partial_shape()
        if not shape.is_static:
            return None
        return np.array([dim.get_length() for dim in shape], dtype=port.get_element_type().to_dtype())

    def _run_cut(self, jobs: list) -> list[tuple[str, np.ndarray]]:
        import openvino

        copy = self.graph.ov_model.clone()
        ports = self.graph.ports_in(copy)
        parameters, outputs, feeds = [], [], []
        for _, sub, fed in jobs:
            inside = {ports[node.output[0]].get_node().get_name() for node in sub.nodes}
            for name in sub.inputs:
                if name not in fed:  # a shape another module's ShapeOf computes: a constant in a static IR
                    source = openvino.op.Constant(self._static_shape(name))
                else:
                    array = self._as_fed(name, fed[name])
                    source = openvino.op.Parameter(ports[name].get_element_type(), openvino.PartialShape(array.shape))
                    parameters.append(source)
                    feeds.append(array)
                for target in list(ports[name].get_target_inputs()):
                    if target.get_node().get_name() in inside:
                        target.replace_source_output(source.output(0))
            outputs.append(ports[sub.output])
        model = openvino.Model(outputs, parameters, "isolated")
        session = self.runtime.ir_session(model, outputs)
        return [(key, output) for (key, _, _), output in zip(jobs, session(dict(enumerate(feeds))))]


def drop_module_lists(gmap) -> None:
    """A traced IR names ops by full module path, so its keys include containers that are never called (C2f's `m`,
    the head's `one2one_cv3`: ModuleLists) and have no reference output: drop them."""
    scale = graph_scale(gmap)
    if scale is None:
        return
    from yolo10port.candidates.module_tree import reference_tree

    tree = reference_tree(scale, gmap.nc)
    for key in [key for key in gmap.values if tree.get(key.split("#")[0]) == "ModuleList"]:
        for table in (gmap.values, gmap.nodes, gmap.op_types):
            table.pop(key, None)


def ir_candidate(kind: str, weights: Weights, spec: RunSpec, precision: str = "float32") -> GraphCandidate:
    """`check --candidate MODEL.xml`: the IR run by OpenVINO, after checking it is these weights' network."""
    return for_weights(IrCandidate.open_ir(kind, device=spec.device, precision=precision), weights, spec)
