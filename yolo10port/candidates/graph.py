"""An ONNX graph as a candidate: ONNX Runtime or OpenVINO runs it, every module's output named by module path.

The graph's node names say which module each value belongs to (candidates/onnx_graph.py); the runtime is asked for
those values as extra outputs, so one run gives the same dump keys as the PyTorch reference. Isolated error runs
each module's own nodes alone (an extracted subgraph) on the reference's recorded inputs: no parity tool does
that for ONNX graphs (Polygraphy can only bisect with `debug reduce`).

Never imports ultralytics: `graph_candidate` asks the reference side for an export only when `check` needs one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from yolo10port import __version__
from yolo10port.candidates.backend import GRAPH_RUNTIMES as RUNTIMES
from yolo10port.candidates.backend import graph_runtime as make_runtime
from yolo10port.candidates.backend import runtime_threads as _threads
from yolo10port.candidates.clean_isolated import fill_key, split_call
from yolo10port.candidates.module_tree import (  # noqa: F401  (ncnn, LiteRT and tests import them from here too)
    SAME_WEIGHTS_COSINE,
    folded_stem,
    no_counterpart,
    reference_tree,
    why_absent,
)
from yolo10port.candidates.onnx_graph import (
    GraphMap,
    OnnxGraph,
    conv_weight,
    extract,
    load_graph,
    map_graph,
    side_by_side,
    tagged,
    with_outputs,
)
from yolo10port.candidates.quantized import is_quantized, scheme_json
from yolo10port.compare.engine import Report
from yolo10port.dumps.inputs import ModelInput, make_input
from yolo10port.dumps.keys import DETECTIONS, HEAD, INPUT_MARK
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.weights.reader import Weights

CHUNK_BYTES = 256 << 20  # depth all: values asked of the runtime per run, so memory stays bounded at any scale


def open_session(path: str | Path, runtime: str, device: str = "cpu") -> Callable[[np.ndarray], list[np.ndarray]]:
    """The graph as it is (no outputs added), ready to run on images, with the candidate's runtime settings: what
    `bench` times."""
    graph = load_graph(path)
    session = make_runtime(runtime, device).session(graph.model)
    name = graph.inputs[0]
    return lambda images: session({name: np.ascontiguousarray(images, dtype=np.float32)})


# --- precision: a float16 graph, converted or as given ---------------------------------------------------------


def graph_precision(graph: OnnxGraph) -> str:
    """int8 when the graph holds quantize/dequantize ops (a QDQ port: its float ops run on dequantized 8-bit
    values), float16 when its convolution weights are float16 (a half-precision export or conversion)."""
    if is_quantized(graph.nodes):
        return "int8"
    weight = conv_weight(graph, "model.0.conv")
    return "float16" if weight is not None and weight.dtype == np.float16 else "float32"


def to_float16(graph: OnnxGraph) -> OnnxGraph:
    """The graph in float16 (onnxruntime's converter), its input and output kept float32 so the same images feed
    it; node names, and so module paths, are kept."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(graph.model, keep_io_types=True, disable_shape_infer=False)
    return OnnxGraph(model, graph.path.with_name(graph.path.stem + "-float16.onnx"))


# --- what the graph cannot give: module paths of the reference tree without a node --------------------------------


def graph_scale(gmap: GraphMap) -> str | None:
    from yolo10port.weights.scales import SCALE_SIGNATURES

    signature = (gmap.stem_channels, gmap.c2f_blocks)
    return next((scale for scale, sig in SCALE_SIGNATURES.items() if sig == signature), None)


def top_k(gmap: GraphMap) -> int | None:
    """The k of the graph's first top-k (ultralytics' max_det), when it is a constant."""
    node = next((node for node in gmap.graph.nodes if node.op_type == "TopK" and len(node.input) > 1), None)
    k = gmap.graph.array(node.input[1]) if node is not None else None
    return int(np.asarray(k).reshape(-1)[0]) if k is not None and np.asarray(k).size else None


def check_top_k(path: Path, gmap: GraphMap, shape: tuple[int, ...]) -> None:
    """A top-k over more boxes than the input has anchors fails inside the runtime: say so, before it runs."""
    k = top_k(gmap)
    if k is None or len(shape) != 4:
        return
    count = lambda h, w: sum((h // stride) * (w // stride) for stride in (8, 16, 32))  # noqa: E731
    anchors = count(shape[2], shape[3])
    if anchors < k:
        smallest = next(size for size in range(32, 1 << 16, 32) if count(size, size) >= k)
        raise InputError(
            "--imgsz",
            f"{path.name} keeps the top {k} boxes (max_det), but a {shape[2]}×{shape[3]} input has only {anchors} "
            f"anchors: use --imgsz {smallest} or more, or export with a smaller max_det",
        )


def fit_input(path: Path, gmap: GraphMap, spec: RunSpec, auto_square: bool) -> tuple[ModelInput, RunSpec, str]:
    """The input `spec` describes, checked against a static graph's input shape, with the runtime not yet loaded
    (a refusal costs no runtime import): (input, the spec it was made with, a note or "")."""
    model_input = make_input(spec)
    wanted = gmap.input_shape
    shape = tuple(model_input.tensor.shape)
    if not gmap.static or shape == wanted:
        check_top_k(path, gmap, shape)
        return model_input, spec, ""
    dims, got = "×".join(map(str, wanted)), "×".join(map(str, shape))
    source = Path(spec.input)
    is_image = model_input.letterbox is not None and not spec.square
    if is_image and shape[0] == wanted[0] and wanted[2] == wanted[3] == spec.imgsz:
        if auto_square:
            note = (
                f"{path.name} is a static {dims} graph: the image was letterboxed to the full square, not the "
                f"{shape[2]}×{shape[3]} rectangle; dump the reference with --square to compare"
            )
            squared, fitted, _ = fit_input(path, gmap, spec.but(square=True), auto_square)
            return squared, fitted, note
        raise InputError(
            "--square",
            f"{path.name} is a static {dims} graph, but {source.name} letterboxes to {shape[2]}×{shape[3]}: re-run "
            "with --square, or export the graph with --dynamic",
        )
    if source.suffix == ".safetensors" and source.is_file():  # a dump's recorded input: its options made it
        raise InputError(
            "--input",
            f"{path.name} is a static {dims} graph, but {source.name} holds a {got} input: make that dump with "
            f"--square{f' --imgsz {wanted[2]}' if wanted[2] == wanted[3] and shape[2:] != wanted[2:] else ''} "
            "(an image letterboxed to the full square), or export the graph with --dynamic",
        )
    fixes = []
    if shape[0] != wanted[0]:
        fixes.append(f"--batch {wanted[0]}")
    if shape[2:] != tuple(wanted[2:]) and wanted[2] == wanted[3]:
        fixes.append(f"--imgsz {wanted[2]}")
    option = "--batch" if shape[0] != wanted[0] else "--imgsz"
    raise InputError(
        option,
        f"{path.name} is a static {dims} graph and cannot run a {got} input: "
        + (f"re-run with {' '.join(fixes)}, or " if fixes else "")
        + "export the graph with --dynamic",
    )


# --- the candidate ------------------------------------------------------------------------------------------------


@dataclass
class GraphCandidate:
    """An ONNX graph run by ONNX Runtime or OpenVINO; its node outputs mapped to module paths."""

    path: Path
    gmap: GraphMap
    runtime: object  # a graph backend (candidates/backend.py): onnxruntime_backend or openvino_backend
    kind: str
    label: str
    scale: str | None
    weights_sha256: str = ""
    auto_square: bool = True  # `run`: letterbox an image to a static graph's square; `check`: refuse instead
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        path: str | Path,
        runtime: str,
        device: str = "cpu",
        spec: RunSpec | None = None,
        precision: str = "float32",
    ) -> GraphCandidate:
        """`spec`: the run it is opened for, checked against the graph before the runtime is loaded. `precision`:
        float16 converts the graph to float16 for ONNX Runtime (inputs and outputs kept float32), float16/bfloat16
        set OpenVINO's INFERENCE_PRECISION_HINT; the dump records what truly ran."""
        path = Path(path)
        if runtime not in RUNTIMES:
            raise InputError("--runtime", f"{runtime!r} is not one of {', '.join(RUNTIMES)}")
        graph = load_graph(path)
        if runtime == "onnxruntime" and precision == "float16" and graph_precision(graph) != "float16":
            graph = to_float16(graph)
        elif runtime == "onnxruntime" and precision not in ("float32", "float16"):
            raise InputError("--precision", f"{precision}: ONNX Runtime runs a graph in float32 or float16 here")
        gmap = map_graph(graph)
        if spec is not None:
            fit_input(path, gmap, spec, auto_square=True)  # a static graph's refusal, before the runtime loads
        engine = make_runtime(runtime, device, precision)
        version = ".".join(engine.version.split(".")[:2])
        label = f"{RUNTIMES[runtime]} {version} on {path.name}" + (
            " (converted to float16)" if graph.path != path else ""
        )
        return cls(path, gmap, engine, runtime, label, graph_scale(gmap), notes=list(gmap.notes)).noting_scale()

    def noting_scale(self) -> GraphCandidate:
        if self.scale is None:
            self.notes.append(
                f"the graph matches none of the six YOLOv10 scales (stem {self.gmap.stem_channels} channels, "
                f"{self.gmap.c2f_blocks} bottlenecks in model.2): dumped without a scale"
            )
        return self

    @property
    def graph(self) -> OnnxGraph:
        return self.gmap.graph

    @property
    def fused(self) -> bool:
        return self.gmap.batchnorms == 0

    # -- input ----------------------------------------------------------------------------------------------------

    def check_spec(self, spec: RunSpec) -> None:
        """Options an ONNX graph cannot honour: exit 2 before anything runs."""
        if spec.dtype != "float32":
            raise InputError(
                "--dtype", f"{spec.dtype}: an ONNX graph runs in the precision it was exported in (float32)"
            )
        if spec.tf32:
            raise InputError("--tf32", "applies to the clean model on CUDA, not to an ONNX graph")

    def model_input(self, spec: RunSpec) -> tuple[ModelInput, RunSpec]:
        """The input `spec` describes, checked against a static graph's input shape."""
        model_input, fitted, note = fit_input(self.path, self.gmap, spec, self.auto_square)
        if note:
            self.note(note)
        return model_input, fitted

    # -- dump -----------------------------------------------------------------------------------------------------

    def _chunks(self, keys: list[str], shape: tuple[int, ...]) -> list[list[str]]:
        """Consecutive groups of keys whose distinct values fit CHUNK_BYTES together (estimated from shapes)."""
        sizes = self.graph.value_bytes(shape)
        fallback = max(sizes.values(), default=4 * int(np.prod(shape)))
        chunks, current, values, total = [], [], set(), 0
        for key in keys:
            value = self.gmap.values[key]
            size = 0 if value in values else sizes.get(value, fallback)
            if current and total + size > CHUNK_BYTES:
                chunks.append(current)
                current, values, total = [], set(), 0
                size = sizes.get(value, fallback)
            current.append(key)
            values.add(value)
            total += size
        return chunks + ([current] if current else [])

    def dump(self, out: Path, spec: RunSpec) -> Path:
        """Run the graph on `spec`'s input and write every selected module's output under its module path."""
        import torch

        from yolo10port.dumps.device import cpu_name
        from yolo10port.dumps.run import stream_dump

        self.check_spec(spec)
        model_input, spec = self.model_input(spec)
        keys = self.gmap.select(spec.depth, spec.within)
        feeds = {self.gmap.input_name: self._as_fed(self.gmap.input_name, model_input.tensor.numpy())}
        tree = reference_tree(self.scale, self.gmap.nc) if self.scale else {}
        absent = no_counterpart(keys, tree, spec.depth, spec.within)
        if absent:
            example, why = next(iter(absent.items()))
            self.note(
                f"{len(absent)} module paths the reference dumps at this depth have no counterpart in the graph "
                f"(listed with the reason in the dump's no_counterpart metadata), e.g. {example}: {why}"
            )
        if spec.depth != 1 or spec.within is not None:
            self.note(
                "every dumped value is made a graph output, which can keep the runtime from fusing ops across it "
                "(e.g. Conv+SiLU): its numerics may differ slightly from a plain run of the graph"
            )

        def forward(recorder) -> None:
            for chunk in self._chunks(keys, tuple(model_input.tensor.shape)):
                values = list(dict.fromkeys(self.gmap.values[key] for key in chunk))
                arrays = dict(zip(values, self._run(feeds, values)))
                for key in chunk:
                    array = np.ascontiguousarray(arrays[self.gmap.values[key]])
                    recorder.record(key, torch.from_numpy(array), self.gmap.op_types[key])

        metadata = {
            "producer": f"{self.runtime.name} {self.runtime.version}",
            "tool": f"yolo10port {__version__}",
            "graph": self.path.name,
            "head": HEAD,
            "nc": str(self.gmap.nc),
            "fused": str(self.fused).lower(),
            "depth": spec.depth_label,
            "device": f"cpu ({cpu_name()})" if self.runtime.device == "cpu" else self.runtime.device,
            "threads": str(_threads()),
            "onnx_nodes": json.dumps({key: self.gmap.nodes[key] for key in keys}),
            "no_counterpart": json.dumps(absent),
            **({"scale": self.scale} if self.scale else {}),
            **({"quantization": scheme} if (scheme := self.quantization()) else {}),
            **({"weights_sha256": self.weights_sha256} if self.weights_sha256 else {}),
        }

        def run_and_record(recorder) -> None:
            forward(recorder)
            # After the run: OpenVINO says what it compiled to only once it has compiled.
            metadata.update(self.runtime.metadata(), precision=self.precision())

        return stream_dump(out, model_input, run_and_record, metadata)

    def quantization(self) -> str:
        """The dump's `quantization` record (JSON), "" for a float graph."""
        return scheme_json(self.graph) if is_quantized(self.graph.nodes) else ""

    def precision(self) -> str:
        """What the run truly computed in: OpenVINO's compiled precision (read back), else the graph's weights."""
        if is_quantized(self.graph.nodes):
            return "int8"  # whatever OpenVINO's hint: it runs the Q/DQ pairs as 8-bit (its LPT transformations)
        return self.runtime.computes_in(graph_precision(self.graph))

    def _run(self, feeds: dict[str, np.ndarray], values: list[str]) -> list[np.ndarray]:
        if self.runtime.adds_outputs_by_name:  # OpenVINO adds the wanted values as outputs itself, by tensor name
            return self.runtime.run(self.graph.model, feeds, values)
        return self.runtime.run(with_outputs(self.graph, values), feeds, values)

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    # -- isolated error -------------------------------------------------------------------------------------------

    def attach_isolated(self, report: Report, reference: str | Path) -> int:
        """Each row's module run alone (its extracted subgraph) on the reference's recorded inputs: the module's
        own error, free of what earlier layers passed on. Returns how many rows got one."""
        from yolo10port.dumps.reader import DumpReader

        rows = {row.name: row for row in report.layers}
        keys = dict.fromkeys(
            row.name.split("/")[0] for row in report.layers if row.shape is not None and row.rule != "input"
        )
        sources = self.gmap.layer_outputs()
        filled = 0
        with DumpReader(reference) as reader:
            jobs = []  # (key, subgraph, feeds): what each module alone is run on
            for key in keys:
                value = self.gmap.values.get(key)
                if value is None or key == DETECTIONS or key not in reader:
                    continue
                sub = extract(self.graph, value, key)
                feeds = self._recorded_feeds(key, sub.inputs, reader, sources)
                if feeds is not None:
                    jobs.append((key, sub, feeds))
            for key, output in self._run_alone(jobs):
                filled += fill_key(rows, key, reader.get(key), output)
        report.isolated = filled > 0
        return filled

    def _run_alone(self, jobs: list) -> list[tuple[str, np.ndarray]]:
        """Run the subgraphs side by side in one model per batch (one session, not one per module; the batch's
        recorded inputs bounded by CHUNK_BYTES); a batch the runtime refuses is retried one module at a time, so
        that one unrunnable module costs only its own row."""
        batches, current, size = [], [], 0
        for job in jobs:
            nbytes = 2 * sum(array.nbytes for array in job[2].values())  # inputs, and an output of like size
            if current and size + nbytes > CHUNK_BYTES:
                batches.append(current)
                current, size = [], 0
            current.append(job)
            size += nbytes
        batches += [current] if current else []
        results = []
        for batch in batches:
            try:
                results += self._run_batch(batch)
            except Exception:  # noqa: BLE001 - find the module the runtime refuses, measure the others
                for job in batch:
                    try:
                        results += self._run_batch([job])
                    except Exception as error:  # noqa: BLE001 - that row stays unmeasured, and says so
                        self.note(f"isolated error of {job[0]} not measured: {type(error).__name__}")
        return results

    def _as_fed(self, value: str, array: np.ndarray) -> np.ndarray:
        """`array` in the element type the graph declares for `value` (a float16 export takes float16)."""
        elem = self.graph.elem_type(value)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem) if elem else np.dtype(np.float32)
        return np.ascontiguousarray(array, dtype=dtype)

    def _run_batch(self, batch: list) -> list[tuple[str, np.ndarray]]:
        parts = [(sub, {name: array.shape for name, array in feeds.items()}) for _, sub, feeds in batch]
        model = side_by_side(self.graph, parts)
        feeds = {
            tagged(i, name): self._as_fed(name, array) for i, (_, _, f) in enumerate(batch) for name, array in f.items()
        }
        outputs = [tagged(i, sub.output) for i, (_, sub, _) in enumerate(batch)]
        return [(key, output) for (key, _, _), output in zip(batch, self.runtime.run(model, feeds, outputs))]

    def _recorded_feeds(self, key: str, inputs: list[str], reader, sources: dict[str, str]):
        """What the reference fed this module's subgraph, or None when the dump lacks it: its recorded
        `<path>@input` (one outside value), the recorded outputs of the layers (or the image) it reads, or its
        recorded input list (`<path>@input/<i>`, the head's three levels) matched to the outside values by shape."""
        path, call = split_call(key)
        recorded = f"{path}{INPUT_MARK}{call}"
        if len(inputs) == 1 and recorded in reader:
            return {inputs[0]: reader.get(recorded).astype(np.float32)}
        if all(sources.get(value) in reader for value in inputs):
            return {value: reader.get(sources[value]).astype(np.float32) for value in inputs}
        parts = []
        while f"{recorded}/{len(parts)}" in reader:
            parts.append(reader.get(f"{recorded}/{len(parts)}").astype(np.float32))
        if len(parts) != len(inputs):
            return None
        feeds = {}
        for value in inputs:
            shape = self.graph.shape(value) or ()
            fits = [i for i, part in enumerate(parts) if part is not None and _fits(shape, part.shape)]
            if len(fits) != 1:
                return None  # two list members of the same shape: which is which cannot be told
            feeds[value], parts[fits[0]] = parts[fits[0]], None
        return feeds


def _fits(declared: tuple, actual: tuple[int, ...]) -> bool:
    """Whether an array of shape `actual` can be a value the graph declares as `declared` (symbolic dims free)."""
    return len(declared) == len(actual) and all(not isinstance(d, int) or d == a for d, a in zip(declared, actual))


# --- check's entry: the graph for these weights ------------------------------------------------------------------


def check_against_weights(candidate: GraphCandidate, weights: Weights) -> None:
    """Refuse a graph that is not these weights' network: another scale or class count, or other weights."""
    gmap, name = candidate.gmap, weights.path.name
    if (candidate.scale, gmap.nc) != (weights.scale, weights.nc):
        raise InputError(
            candidate.path,
            f"the graph is YOLOv10-{candidate.scale or '?'} with {gmap.nc} classes, {name} is YOLOv10-{weights.scale} "
            f"with {weights.nc}: give the graph exported from these weights (yolo10port onnx {name}) or the weights "
            "it was exported from",
        )
    ours, theirs = conv_weight(candidate.graph, "model.0.conv"), folded_stem(weights)
    if ours is None or theirs is None or ours.shape != theirs.shape:
        return
    a, b = ours.astype(np.float64).ravel(), theirs.ravel()
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
    if cosine < SAME_WEIGHTS_COSINE:
        raise InputError(
            candidate.path,
            f"its model.0 conv is not {name}'s (cosine {cosine:.2f} with the checkpoint's BatchNorm-folded model.0 "
            f"conv): the graph was exported from other weights; export it from these (yolo10port onnx {name})",
        )


def needs_dynamic(spec: RunSpec) -> bool:
    """Whether `spec`'s input is other than one imgsz square image: a static export could not take it."""
    shape = tuple(make_input(spec).tensor.shape)
    return shape != (1, 3, spec.imgsz, spec.imgsz)


def graph_candidate(
    kind: str, weights: Weights, files: dict[str, Path], spec: RunSpec, precision: str = "float32"
) -> GraphCandidate:
    """`onnxruntime` / `openvino`: export these weights (one-to-one head) beside the weights export and run it;
    a path to an .onnx file: run it with ONNX Runtime, after checking it is these weights' graph."""
    if kind in RUNTIMES:
        from yolo10port.reference.onnx_export import export_onnx

        dynamic = needs_dynamic(spec)
        # Named by the weights' digest and the export settings: a folder that already holds it (selftest, a kept
        # --workdir) reuses it instead of exporting again.
        tag = f"{weights.source_sha256[:12]}-{spec.imgsz}{'-dynamic' if dynamic else ''}"
        path = files["weights"].with_name(f"{files['weights'].stem}-{tag}.onnx")
        if not path.exists():
            export_onnx(weights, path, imgsz=spec.imgsz, dynamic=dynamic)
        runtime = kind
    else:
        path, runtime = Path(kind), "onnxruntime"
    return for_weights(GraphCandidate.open(path, runtime, device=spec.device, precision=precision), weights, spec)


def for_weights(candidate: GraphCandidate, weights: Weights, spec: RunSpec) -> GraphCandidate:
    """`check`'s candidate: these weights' network (or exit 2), fed the rectangle the reference is fed."""
    candidate.auto_square = False  # the reference was fed the rectangle: a square here would not compare
    candidate.weights_sha256 = weights.source_sha256
    check_against_weights(candidate, weights)
    candidate.check_spec(spec)
    candidate.model_input(spec)
    return candidate
