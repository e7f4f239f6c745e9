"""The two sides of `val`: whatever turns an image into detection rows, behind one small interface.

A side is either run here on the preprocessed input tensor (the ultralytics reference network; the candidates the
tool can run: the clean model, ONNX Runtime, OpenVINO, ncnn, LiteRT) or read from a folder of per-image results (a
golden set written by `golden --inputs DIR`, or a foreign port's own detections). Every side returns every row it
kept (score above the mAP threshold) in input pixels with the input it was fed, so val maps both sides to the
original image the same way and can tell a different input from a different network.

Candidates the tool runs are registered in RUNNERS by name (clean, onnxruntime, openvino, ncnn, litert): adding a
runtime is one entry there, a function from the setup to a Runner. This module imports neither torch nor the
runtimes at import time: reading folders is the light install's path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo10port.compare.sets import GOLDEN_INDEX  # noqa: F401  (val imports it from here)
from yolo10port.errors import InputError

MAX_ROWS = 8400 * 80  # a YOLOv10 keeps at most one row per (anchor, class): 640² has 8400 anchors, COCO 80 classes


@dataclass
class SideOutput:
    rows: np.ndarray  # (k, 6) x1 y1 x2 y2 score class in input pixels (or original pixels when `on_original`)
    input: np.ndarray | None  # the (1, 3, h, w) tensor it was fed, when known
    input_hw: tuple[int, int] | None
    seconds: float = 0.0  # the run's time (0 for a side read from files)
    on_original: bool = False


@dataclass
class Setup:
    """What a runner needs: the reference weights, the run options, and where an export may be written."""

    model: Path
    imgsz: int
    square: bool
    dtype: str
    fuse: bool
    device: str
    workdir: Path


class Runner:
    """A side the tool runs itself on the shared, preprocessed input (torch (1, 3, h, w) float32 RGB 0–1)."""

    kind: str = ""
    label: str = ""
    runs = True  # its images/s is a measurement

    def rows(self, tensor) -> np.ndarray:  # (max_det, 6) in input pixels
        raise NotImplementedError

    def detect(self, tensor, stem: str) -> SideOutput:
        started = time.perf_counter()
        rows = np.asarray(self.rows(tensor), dtype=np.float32).reshape(-1, 6)
        seconds = time.perf_counter() - started
        return SideOutput(rows, tensor.numpy(), tuple(tensor.shape[2:]), seconds)


class ReferenceRunner(Runner):
    """ultralytics' network for the weights (read safely, one-to-one head): what its predictor runs per image."""

    kind = "ultralytics"

    def __init__(self, setup: Setup):
        import torch

        from yolo10port.dumps.device import torch_device
        from yolo10port.reference.network import keep_torch_threads, reference_network, ultralytics_version
        from yolo10port.weights.reader import read_weights

        self.torch = torch
        weights = read_weights(setup.model)
        with keep_torch_threads():
            self.network = reference_network(weights).to(torch_device(setup.device))
        self.device = torch_device(setup.device)
        self.weights = weights
        self.label = f"{ultralytics_version()} on {setup.model.name}"

    def rows(self, tensor) -> np.ndarray:
        with self.torch.inference_mode():
            return self.network(tensor.to(self.device))[0][0].float().cpu().numpy()


class CleanRunner(Runner):
    kind = "clean"

    def __init__(self, setup: Setup):
        import torch

        from yolo10port.candidates.clean import load_clean_model
        from yolo10port.dumps.device import TORCH_DTYPES, torch_device
        from yolo10port.dumps.spec import CANDIDATE_DTYPES

        if setup.dtype not in CANDIDATE_DTYPES:
            raise InputError("--dtype", f"{setup.dtype!r} is not one of {', '.join(CANDIDATE_DTYPES)}")
        self.torch = torch
        self.device, self.dtype = torch_device(setup.device), TORCH_DTYPES[setup.dtype]
        model, _ = load_clean_model(setup.model, fuse=setup.fuse)
        self.model = model.to(device=self.device, dtype=self.dtype)
        precision = "" if setup.dtype == "float32" else f" in {setup.dtype}"
        self.label = f"the clean model{' (fused)' if setup.fuse else ''}{precision}"

    def rows(self, tensor) -> np.ndarray:
        with self.torch.inference_mode():
            return self.model(tensor.to(device=self.device, dtype=self.dtype))[0].float().cpu().numpy()


class GraphRunner(Runner):
    """An ONNX graph run as it is (no extra outputs) by ONNX Runtime or OpenVINO, with check's runtime settings."""

    def __init__(self, setup: Setup, runtime: str, path: Path | None = None):
        from yolo10port.candidates.graph import RUNTIMES, GraphCandidate, check_against_weights, open_session
        from yolo10port.weights.reader import read_weights

        if setup.dtype != "float32":
            raise InputError("--dtype", f"{setup.dtype}: an ONNX graph runs in the precision it was exported in")
        weights = read_weights(setup.model)
        self.kind = runtime if path is None else str(path)
        if path is None:  # export these weights; dynamic: the predictor's rectangles differ from image to image
            from yolo10port.reference.onnx_export import export_onnx

            dynamic = not setup.square
            tag = f"{weights.source_sha256[:12]}-{setup.imgsz}{'-dynamic' if dynamic else ''}"
            path = setup.workdir / f"{setup.model.stem}-{tag}.onnx"
            if not path.exists():
                export_onnx(weights, path, imgsz=setup.imgsz, dynamic=dynamic)
        graph = GraphCandidate.open(path, runtime, device=setup.device)
        check_against_weights(graph, weights)
        if graph.gmap.static and not setup.square:
            raise InputError(
                path,
                f"is a static {'×'.join(map(str, graph.gmap.input_shape))} graph; the predictor's rectangles vary "
                "per image: run val with --square, or export the graph with --dynamic",
            )
        self.session = open_session(path, runtime, setup.device)
        precision = graph.precision()  # int8 for a QDQ graph: val is its verdict (README, Quantized candidates)
        self.precision = precision  # val's gate defaults follow it (workflows/val.py Gate.resolved)
        self.label = f"{RUNTIMES[runtime]} {graph.runtime.version} on {path.name}" + (
            f" ({precision})" if precision == "int8" else ""
        )

    def rows(self, tensor) -> np.ndarray:
        return self.session(tensor.numpy())[0][0]


class IrRunner(Runner):
    """An OpenVINO IR (.xml + .bin) run as it is by OpenVINO, checked against these weights like an ONNX graph."""

    def __init__(self, setup: Setup, path: Path):
        from yolo10port.candidates.graph import check_against_weights
        from yolo10port.candidates.openvino_ir import IrCandidate
        from yolo10port.weights.reader import read_weights

        if setup.dtype != "float32":
            raise InputError("--dtype", f"{setup.dtype}: an OpenVINO IR runs in its own precision")
        ir = IrCandidate.open_ir(path, device=setup.device)
        check_against_weights(ir, read_weights(setup.model))
        if ir.gmap.static:
            _static_square(setup, f"the IR {path.name}", tuple(ir.gmap.input_shape[2:]), path)
        self.kind, self.precision = str(path), ir.precision()  # int8 with FakeQuantize: val is its verdict
        copy = ir.graph.ov_model.clone()
        self.session = ir.runtime.ir_session(copy, [ir.graph.ports_in(copy)[ir.graph.outputs[0]]])
        self.label = f"OpenVINO {ir.runtime.version} on {path.name}" + (
            f" ({self.precision})" if self.precision == "int8" else ""
        )

    def rows(self, tensor) -> np.ndarray:
        return self.session({0: tensor.numpy()})[0][0]


def _graph(runtime: str) -> Callable[[Setup], Runner]:
    return lambda setup: GraphRunner(setup, runtime)


def _static_square(setup: Setup, what: str, size: tuple[int, int], path: Path) -> None:
    """A static export runs at its traced size only: val must feed the full square of that size."""
    if not setup.square:
        raise InputError(
            "--square",
            f"{what} is static at {size[0]}×{size[1]}; the predictor's rectangles vary per image: run val with "
            "--square",
        )
    if size != (setup.imgsz, setup.imgsz):
        raise InputError(path, f"takes {size[0]}×{size[1]} inputs, not --imgsz {setup.imgsz}")


class NcnnRunner(Runner):
    """ncnn on `yolo10port ncnn`'s export of these weights (one-to-one head, at --imgsz, made in the workdir), or on
    a given ncnn model checked against them; ncnn's default options (Winograd on). Top-k is the clean model's
    postprocess on the host, as in an ncnn dump."""

    kind = "ncnn"

    def __init__(self, setup: Setup, path: Path | None = None):
        import torch

        from yolo10port.candidates.ncnn import PARAM_NAME, NcnnCandidate, check_against_weights, ncnn_kernels
        from yolo10port.model import postprocess
        from yolo10port.weights.reader import read_weights

        if setup.dtype != "float32":
            raise InputError("--dtype", f"{setup.dtype}: an ncnn model's precision is set by its options")
        if setup.device != "cpu":
            raise InputError("--device", f"{setup.device}: the ncnn candidate runs on the CPU here")
        if not setup.square:
            _static_square(setup, "an ncnn model", (setup.imgsz, setup.imgsz), path or Path("ncnn"))
        weights = read_weights(setup.model)
        if path is None:
            from yolo10port.reference.ncnn_export import export_ncnn

            path = setup.workdir / f"{setup.model.stem}-{weights.source_sha256[:12]}-{setup.imgsz}_ncnn_model"
            if not (path / PARAM_NAME).exists():
                setup.workdir.mkdir(parents=True, exist_ok=True)  # --workdir: where the export is kept
                export_ncnn(weights, path, imgsz=setup.imgsz)
        else:
            self.kind = str(path)
        self.candidate = NcnnCandidate.open(path)
        check_against_weights(self.candidate, weights)
        _static_square(setup, f"the ncnn model {Path(path).name}", self.candidate.size, Path(path))
        self.torch, self.postprocess = torch, postprocess
        runtime = self.candidate.runtime
        self.label = f"ncnn {runtime.version} on {Path(path).name} ({ncnn_kernels(runtime.options)})"

    def rows(self, tensor) -> np.ndarray:
        nmap = self.candidate.nmap
        from yolo10port.dumps.keys import DECODED_HEAD

        (head,) = self.candidate.runtime.run({nmap.input_blob: tensor.numpy()[0]}, [nmap.blobs[DECODED_HEAD]])
        decoded = self.torch.from_numpy(head.reshape(nmap.shapes[DECODED_HEAD]))
        return self.postprocess(decoded)[0].numpy()


class LiteRtRunner(Runner):
    """ai-edge-litert on a given .tflite (ultralytics' export, made in its own environment), checked against these
    weights; its own top-k is the output."""

    kind = "litert"

    def __init__(self, setup: Setup, path: Path | None = None):
        from yolo10port.candidates.litert import LiteRtCandidate
        from yolo10port.weights.reader import read_weights

        weights = read_weights(setup.model)  # once: it names the export and checks it
        if path is None:
            from yolo10port.candidates.litert import exported_model

            path = exported_model(weights.scale, setup.imgsz)
        try:
            import ai_edge_litert  # noqa: F401
        except ImportError:
            raise InputError(
                "--candidate", f"{path}: running a .tflite needs ai-edge-litert (pip install 'yolo10port[full]')"
            ) from None
        if setup.dtype != "float32" or setup.device != "cpu":
            raise InputError("--dtype", "a LiteRT model runs on the CPU in the precision it was exported in")
        from yolo10port.candidates.litert import litert_candidate
        from yolo10port.dumps.spec import RunSpec

        candidate: LiteRtCandidate = litert_candidate(str(path), weights, RunSpec())
        _static_square(setup, f"the LiteRT model {path.name}", tuple(candidate.lmap.input_shape[2:]), path)
        interpreter = candidate.runtime.interpreter
        outputs = [d for d in interpreter.get_output_details() if tuple(d["shape"])[-1] == 6]
        if not outputs:
            raise InputError(path, "has no (1, k, 6) detections output (ultralytics' LiteRT export keeps its top-k)")
        self.candidate, self.output = candidate, outputs[0]["name"]
        self.kind = str(path)
        self.label = f"LiteRT {candidate.runtime.version} on {path.name} ({candidate.runtime.options['resolver']})"

    def rows(self, tensor) -> np.ndarray:
        runtime = self.candidate.runtime
        (detections,) = runtime.run({self.candidate._input_name(): tensor.numpy()}, [self.output])
        return detections[0]


# The candidates the tool runs, by --candidate name: adding a runtime is one entry here.
RUNNERS: dict[str, Callable[[Setup], Runner]] = {
    "clean": CleanRunner,
    "onnxruntime": _graph("onnxruntime"),
    "openvino": _graph("openvino"),
    "ncnn": NcnnRunner,
    "litert": LiteRtRunner,
}


def is_ncnn_model(candidate: str) -> bool:
    path = Path(candidate)
    return path.suffix == ".param" or (path.is_dir() and any(path.glob("*.param")))


def check_candidate(candidate: str) -> None:
    """InputError unless `candidate` names a runner, an existing .onnx, .tflite or ncnn model, or a folder of
    results."""
    if candidate in RUNNERS or Path(candidate).is_dir():
        return
    if candidate.endswith((".onnx", ".tflite", ".param", ".xml")):
        if not Path(candidate).is_file():
            raise InputError("--candidate", f"{candidate}: no such file")
        return
    raise InputError(
        "--candidate",
        f"{candidate!r} is not one of {', '.join(RUNNERS)}, an .onnx, OpenVINO .xml, .tflite or ncnn model, nor a "
        "folder of per-image results",
    )


def make_runner(candidate: str, setup: Setup) -> Runner:
    check_candidate(candidate)
    if candidate in RUNNERS:
        return RUNNERS[candidate](setup)
    if candidate.endswith(".tflite"):
        return LiteRtRunner(setup, Path(candidate))
    if is_ncnn_model(candidate):
        return NcnnRunner(setup, Path(candidate))
    if candidate.endswith(".xml"):
        return IrRunner(setup, Path(candidate))
    return GraphRunner(setup, "onnxruntime", Path(candidate))


# --- sides read from files: a golden set, a foreign port's results ----------------------------------------------


class FolderSide:
    """Per-image results in a folder, paired with the images by stem: `<stem>.safetensors`, a yolo10port dump
    holding `detections` (1, k, 6) in input pixels and the `input` it was fed; or `<stem>.json`,
    `{"detections": [[x1, y1, x2, y2, score, class], …]}` in original-image pixels (no input: preprocessing is then
    not checked)."""

    runs = False

    def __init__(self, folder: Path, role: str):
        self.folder = folder
        self.role = role
        index = folder / GOLDEN_INDEX
        self.index = json.loads(index.read_text()) if index.is_file() else None
        self.kind = "golden" if self.index else "folder"
        if self.index:
            made_by = f"ultralytics {self.index.get('ultralytics', '?')} on {self.index.get('weights', '?')}"
            self.label = f"golden set {folder.name} ({made_by})"
        else:
            self.label = f"results folder {folder.name}"

    def image_hw(self, stem: str) -> tuple[int, int] | None:
        """The original image's shape, as `golden` recorded it (a light install cannot decode images)."""
        entry = (self.index or {}).get("inputs", {}).get(stem) or {}
        hw = entry.get("image_hw")
        return (int(hw[0]), int(hw[1])) if hw else None

    def has(self, stem: str) -> bool:
        return self.file(stem) is not None

    def file(self, stem: str) -> Path | None:
        """The result file of the image `stem`: its dump, else its JSON."""
        for path in (self.folder / f"{stem}.safetensors", self.folder / f"{stem}.json"):
            if path.is_file():
                return path
        return None

    def detect(self, stem: str) -> SideOutput:
        dump, result = self.folder / f"{stem}.safetensors", self.folder / f"{stem}.json"
        if dump.is_file():
            return self._dump(dump)
        if result.is_file():
            return self._json(result)
        raise InputError(self.folder, f"has no {stem}.safetensors or {stem}.json for the image {stem}")

    def _dump(self, path: Path) -> SideOutput:
        from yolo10port.dumps.reader import DumpReader, read_dump_metadata

        meta = read_dump_metadata(path)
        with DumpReader(path) as reader:
            if "detections" not in reader:
                raise InputError(path, "holds no 'detections' tensor (B, k, 6): val compares final detections")
            rows = np.asarray(reader.get("detections"), dtype=np.float32)
            tensor = np.asarray(reader.get("input"), dtype=np.float32) if "input" in reader else None
        if rows.ndim == 3:
            if rows.shape[0] != 1:
                raise InputError(path, f"detections of {rows.shape[0]} images; val takes one image per dump")
            rows = rows[0]
        if rows.ndim != 2 or rows.shape[1] != 6:
            raise InputError(path, f"detections have shape {rows.shape}, not (1, k, 6)")
        if len(rows) > MAX_ROWS:
            raise InputError(path, f"{len(rows)} detections: more than the {MAX_ROWS} a YOLOv10 can keep per image")
        if tensor is not None:
            if tensor.ndim != 4 or tensor.shape[0] != 1:
                raise InputError(path, f"its input has shape {tensor.shape}, not (1, 3, h, w)")
            hw = tensor.shape[2:] if tensor.shape[1] == 3 else tensor.shape[1:3]  # NHWC: named later as such
            return SideOutput(rows, tensor, (int(hw[0]), int(hw[1])))
        dims = (meta.get("input") or "").rsplit(":", 1)[-1].split("x")
        if len(dims) == 4 and all(d.isdigit() for d in dims):
            return SideOutput(rows, None, (int(dims[2]), int(dims[3])))
        raise InputError(
            path,
            "has neither an 'input' tensor nor an input shape in its metadata: boxes in input "
            "pixels cannot be mapped back to the image",
        )

    def _json(self, path: Path) -> SideOutput:
        try:
            data = json.loads(path.read_text())
            rows = np.array(data["detections"], dtype=np.float32).reshape(-1, 6)
        except (ValueError, KeyError, TypeError):
            raise InputError(
                path, 'is not {"detections": [[x1, y1, x2, y2, score, class], …]} (original-image pixels)'
            ) from None
        if len(rows) > MAX_ROWS:
            raise InputError(path, f"{len(rows)} detections: more than the {MAX_ROWS} a YOLOv10 can keep per image")
        return SideOutput(rows, None, None, on_original=True)
