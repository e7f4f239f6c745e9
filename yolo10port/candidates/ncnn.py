"""An ncnn model as a candidate: ncnn runs it, every module's output read by blob name and keyed by module path.

The files are ultralytics' `MODEL_ncnn_model/` folder (model.ncnn.param + model.ncnn.bin) or `yolo10port ncnn`'s,
or a .param/.bin pair. The blob names say nothing (`2`, `19`, …): candidates/ncnn_map.py names them by structure.
ncnn's Extractor returns any blob by name, so one run per image gives every module's output; it also accepts an
input on any blob, computing only what lies downstream, so each module can be run alone on the reference's
recorded inputs (isolated error).

ncnn has no batch dimension and no top-k: a batch runs image by image, and `detections` are the clean model's
postprocess (the same two top-k steps as ultralytics') applied on the host to ncnn's decoded head.

Never imports ultralytics: `ncnn_candidate` asks the reference side for an export only when `check` needs one.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yolo10port import __version__
from yolo10port.candidates.backend import parse_options
from yolo10port.candidates.clean_isolated import fill_key, recorded_input
from yolo10port.candidates.ncnn_map import (
    NcnnMap,
    NcnnParam,
    conv_arrays,
    map_param,
    read_param,
    refuse_one_to_many,
    scale_of,
)
from yolo10port.compare.engine import Report
from yolo10port.dumps.inputs import ModelInput, make_input
from yolo10port.dumps.keys import DECODED_HEAD, DETECTIONS, HEAD
from yolo10port.dumps.spec import RunSpec
from yolo10port.errors import InputError
from yolo10port.weights.reader import Weights

# The options a user may set (--runtime-option KEY=VALUE); all are recorded in the dump's `ncnn_options`.
OPTIONS: dict[str, type] = {
    "use_winograd_convolution": bool,
    "use_winograd23_convolution": bool,
    "use_winograd43_convolution": bool,
    "use_winograd63_convolution": bool,
    "use_sgemm_convolution": bool,
    "use_packing_layout": bool,
    "use_fp16_storage": bool,
    "use_fp16_packed": bool,
    "use_fp16_arithmetic": bool,
    "use_bf16_storage": bool,
    "num_threads": int,
}
PARAM_NAME, BIN_NAME = "model.ncnn.param", "model.ncnn.bin"  # what ultralytics (and `yolo10port ncnn`) write
SAME_WEIGHTS_COSINE = 0.9  # as for ONNX graphs: other weights score ~0


def _threads() -> int:
    """--threads, else OMP_NUM_THREADS, else the cores this process may use: one setting for every runtime."""
    from yolo10port.threads import thread_count

    return thread_count()


def model_files(path: str | Path) -> tuple[Path, Path]:
    """(.param, .bin) of a `_ncnn_model/` folder, a .param or a .bin; exit 2 naming what is missing."""
    path = Path(path)
    if path.is_dir():
        param, weights = path / PARAM_NAME, path / BIN_NAME
        if not param.is_file():
            params = sorted(path.glob("*.param"))
            if len(params) != 1:
                raise InputError(path, f"holds no {PARAM_NAME} (nor exactly one .param file): not an ncnn model folder")
            param = params[0]
            weights = param.with_suffix(".bin")
    elif path.suffix in (".param", ".bin"):
        param, weights = path.with_suffix(".param"), path.with_suffix(".bin")
    else:
        raise InputError(path, "is not an ncnn model: give the _ncnn_model/ folder or its .param/.bin pair")
    for file in (param, weights):
        if not file.is_file():
            raise InputError(file, "missing: an ncnn model is a .param file and the .bin beside it")
    return param, weights


def winograd_on(options: dict[str, object]) -> bool:
    """ncnn computes a 3×3 convolution by Winograd only with the switch on and one of F(2,3)/F(4,3)/F(6,3) allowed."""
    sizes = ("23", "43", "63")
    return bool(options.get("use_winograd_convolution")) and any(
        options.get(f"use_winograd{n}_convolution") for n in sizes
    )


def ncnn_kernels(options: dict[str, object]) -> str:
    """What the dump's `kernels` hint says: the fast convolution algorithms that may change the arithmetic."""
    if winograd_on(options):
        sizes = [n for n in ("23", "43", "63") if options.get(f"use_winograd{n}_convolution")]
        return f"winograd F({','.join(sizes)})"
    return "sgemm" if options.get("use_sgemm_convolution") else "direct"


def winograd_layers(param: NcnnParam) -> list[str]:
    """The Convolution layers ncnn's x86 and ARM kernels compute by Winograd when it is on: 3×3, stride 1,
    dilation 1, ungrouped (depthwise convs are another layer type), more than 8 input or output channels
    (`prefer_winograd` in ncnn's convolution_x86.cpp / convolution_arm.cpp). Which of F(2,3), F(4,3), F(6,3) each
    gets depends on its size; the reference's winograd floor is measured with F(6,3), the largest error of the
    three, at every such conv (README, "Reduced precision")."""
    found = []
    for layer in param.layers:
        if layer.type != "Convolution":
            continue
        kw = layer.int(1)
        kh, dw, dh = layer.int(11, kw), layer.int(2, 1), layer.int(12, layer.int(2, 1))
        sw = layer.int(3, 1)
        sh = layer.int(13, sw)
        out = layer.int(0)
        size = layer.int(6)
        inputs = size // (out * kw * kh) if out and kw and kh else 0
        if (kw, kh, dw, dh, sw, sh) == (3, 3, 1, 1, 1, 1) and (inputs > 8 or out > 8):
            found.append(layer.name)
    return found


class NcnnRuntime:
    """ncnn's Net with the options given, run by blob name (the Backend interface)."""

    name = "ncnn"
    can_feed_intermediates = True

    def __init__(self, param: Path, weights: Path, options: dict[str, object] | None = None, winograd_convs: int = 0):
        import ncnn

        self.winograd_convs = winograd_convs  # how many of the model's convs Winograd computes when it is on

        self.version = ncnn.__version__
        self.net = ncnn.Net()
        opt = self.net.opt
        wanted = {"num_threads": _threads(), **(options or {})}
        for key, value in wanted.items():
            setattr(opt, key, value)
        self.options = {key: getattr(opt, key) for key in OPTIONS}
        self._mat = ncnn.Mat
        # ncnn prints a line per layer it cannot create; a failure shows as a non-zero return code.
        if self.net.load_param(str(param)) != 0:
            raise InputError(param, "ncnn could not load this .param file")
        if self.net.load_model(str(weights)) != 0:
            raise InputError(weights, "ncnn could not load this .bin file (does it belong to the .param?)")

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        extractor = self.net.create_extractor()
        # Keep every blob when many are asked for; one output (bench, val, isolated error) runs as a deployment does.
        extractor.set_light_mode(len(outputs) == 1)
        for name, array in feeds.items():
            extractor.input(name, self._mat(np.ascontiguousarray(array, dtype=np.float32)))
        results = []
        for name in outputs:
            code, mat = extractor.extract(name)
            if code != 0:
                raise RuntimeError(f"ncnn could not compute blob {name} (code {code})")
            results.append(np.array(mat, dtype=np.float32, copy=True))
        return results

    @property
    def precision(self) -> str:
        """What ncnn truly computes in, so that the floor of that precision judges it: float16 where ncnn's fp16
        paths can run (ARM with fp16 storage/arithmetic on); else `winograd` when Winograd is on and the model has
        convolutions it applies to (float32 with a few times float32's rounding); else float32."""
        fp16 = self.options.get("use_fp16_storage") or self.options.get("use_fp16_arithmetic")
        arm = platform.machine().lower() in ("aarch64", "arm64", "armv8l", "armv7l")
        if fp16 and arm:
            return "float16"
        return "winograd" if winograd_on(self.options) and self.winograd_convs else "float32"

    def metadata(self) -> dict[str, str]:
        return {
            "runtime": f"ncnn {self.version}",
            "precision": self.precision,
            "kernels": ncnn_kernels(self.options),
            "ncnn_options": json.dumps(self.options, sort_keys=True),
            "threads": str(self.options["num_threads"]),
        }


def exported_size(nmap: NcnnMap) -> tuple[int, int] | None:
    """(height, width) a static export was traced at: from metadata.yaml's `imgsz` (ours and ultralytics'), else a
    square read from the anchor-point constant (2 × A)."""
    meta = nmap.param.path.parent / "metadata.yaml"
    if meta.is_file():
        text = meta.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"^imgsz:\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]", text, re.M) or re.search(
            r"^imgsz:\s*\n-\s*(\d+)\s*\n-\s*(\d+)", text, re.M
        )
        if found:
            return int(found.group(1)), int(found.group(2))
    for layer in nmap.param.layers:
        if layer.type == "MemoryData" and layer.int(1) == 2:
            anchors = layer.int(0)
            side = 32 * (anchors / 21) ** 0.5  # A = (s/8)² + (s/16)² + (s/32)² = 21 (s/32)²
            if side == int(side):
                return int(side), int(side)
    return None


@dataclass
class NcnnCandidate:
    """An ncnn model run by ncnn; its blobs mapped to module paths."""

    path: Path
    nmap: NcnnMap
    runtime: NcnnRuntime
    size: tuple[int, int]  # (height, width) it was exported at: ncnn runs a static export at that size only
    label: str
    kind: str = "ncnn"
    weights_sha256: str = ""
    auto_square: bool = True
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path, options: dict[str, object] | None = None) -> NcnnCandidate:
        param_path, bin_path = model_files(path)
        param = read_param(param_path)
        scale, nc = scale_of(param)
        refuse_one_to_many(param, nc)
        probe = map_param(param, scale, nc)  # blob names do not depend on the size; the anchors do
        size = exported_size(probe) or (640, 640)
        nmap = map_param(param, scale, nc, *size)
        runtime = NcnnRuntime(param_path, bin_path, options, len(winograd_layers(param)))
        version = ".".join(runtime.version.split(".")[:2])
        label = f"ncnn {version} on {Path(path).name} ({ncnn_kernels(runtime.options)})"
        candidate = cls(Path(path), nmap, runtime, size, label, notes=list(nmap.notes))
        if not (param_path.parent / "metadata.yaml").is_file():
            candidate.note(
                "no metadata.yaml beside the model: whether it holds the one-to-one head cannot be read from the file "
                "(ultralytics' own ncnn export holds the one-to-many head); check it against its weights"
            )
        return candidate

    @property
    def fused(self) -> bool:
        return True  # an ncnn export is always BatchNorm-folded

    def precision(self) -> str:
        """What ncnn computes in with these options (`winograd` by default): the floor that judges it."""
        return self.runtime.precision

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    # -- input ----------------------------------------------------------------------------------------------------

    def check_spec(self, spec: RunSpec) -> None:
        if spec.dtype != "float32":
            raise InputError("--dtype", f"{spec.dtype}: an ncnn model's precision is set by --runtime-option")
        if spec.tf32:
            raise InputError("--tf32", "applies to the clean model on CUDA, not to ncnn")
        if spec.device != "cpu":
            raise InputError("--device", f"{spec.device}: the ncnn candidate runs on the CPU here; use --device cpu")

    def model_input(self, spec: RunSpec) -> tuple[ModelInput, RunSpec]:
        model_input = make_input(spec)
        shape = tuple(model_input.tensor.shape)
        if shape[2:] == self.size:
            return model_input, spec
        h, w = self.size
        is_image = model_input.letterbox is not None and not spec.square
        if is_image and spec.imgsz == h == w:
            if self.auto_square:
                self.note(
                    f"the ncnn model is static at {h}×{w}: the image was letterboxed to the full square; dump the "
                    "reference with --square to compare"
                )
                return self.model_input(spec.but(square=True))
            raise InputError(
                "--square",
                f"the ncnn model is static at {h}×{w}, but {Path(spec.input).name} letterboxes to "
                f"{shape[2]}×{shape[3]}: re-run with --square",
            )
        raise InputError(
            "--imgsz", f"the ncnn model was exported for {h}×{w} inputs, not {shape[2]}×{shape[3]}: export it again"
        )

    # -- dump -----------------------------------------------------------------------------------------------------

    def as_reference_shape(self, key: str, array: np.ndarray) -> np.ndarray | None:
        """An ncnn Mat (no batch axis) as the module's (1, …) output, or None when the shapes disagree (the map
        is then wrong for this key, and the key is left out rather than compared)."""
        wanted = self.nmap.shapes[key]
        if array.size != int(np.prod(wanted)) or [d for d in array.shape if d != 1] != [d for d in wanted if d != 1]:
            self.note(f"{key}: blob {self.nmap.blobs[key]} has shape {array.shape}, not {wanted[1:]}: left out")
            return None
        return array.reshape(wanted)

    def _run_image(self, image: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
        blobs = list(dict.fromkeys(self.nmap.blobs[key] for key in keys))
        arrays = dict(zip(blobs, self.runtime.run({self.nmap.input_blob: image}, blobs)))
        return {key: arrays[self.nmap.blobs[key]] for key in keys}

    def dump(self, out: Path, spec: RunSpec) -> Path:
        import torch

        from yolo10port.candidates.module_tree import no_counterpart, reference_tree
        from yolo10port.dumps.device import cpu_name
        from yolo10port.dumps.run import stream_dump
        from yolo10port.model import postprocess

        self.check_spec(spec)
        model_input, spec = self.model_input(spec)
        keys = self.nmap.select(spec.depth, spec.within)
        mapped = [key for key in keys if key != DETECTIONS]
        if DECODED_HEAD not in mapped and DETECTIONS in keys:
            mapped.append(DECODED_HEAD)
        absent = no_counterpart(mapped, reference_tree(self.nmap.scale, self.nmap.nc), spec.depth, spec.within)
        if absent:
            example, why = next(iter(absent.items()))
            self.note(
                f"{len(absent)} module paths the reference dumps at this depth have no counterpart in the ncnn model "
                f"(listed with the reason in the dump's no_counterpart metadata), e.g. {example}: {why}"
            )
        images = model_input.tensor.numpy()

        def forward(recorder) -> None:
            per_image = [self._run_image(image, mapped) for image in images]
            for key in mapped:
                parts = [self.as_reference_shape(key, outputs[key]) for outputs in per_image]
                if any(part is None for part in parts):
                    continue
                array = np.concatenate(parts)
                if key in keys:
                    recorder.record(key.split("#")[0], torch.from_numpy(array), self.nmap.types[key])
                if key == DECODED_HEAD and DETECTIONS in keys:
                    detections = postprocess(torch.from_numpy(array), spec.max_det)
                    recorder.record(DETECTIONS, detections, "postprocess (host)")

        metadata = {
            "producer": f"ncnn {self.runtime.version}",
            "tool": f"yolo10port {__version__}",
            "graph": self.path.name,
            "head": HEAD,
            "scale": self.nmap.scale,
            "nc": str(self.nmap.nc),
            "fused": "true",
            "depth": spec.depth_label,
            "device": f"cpu ({cpu_name()})",
            "ncnn_layers": json.dumps({key: self.nmap.layers[key] for key in mapped}),
            "no_counterpart": json.dumps(absent),
            "detections_by": "the clean model's postprocess on the host (ncnn has no top-k)",
            **({"weights_sha256": self.weights_sha256} if self.weights_sha256 else {}),
            **self.runtime.metadata(),
        }
        return stream_dump(out, model_input, forward, metadata)

    # -- isolated error -------------------------------------------------------------------------------------------

    def attach_isolated(self, report: Report, reference: str | Path) -> int:
        """Each row's module run alone: the reference's recorded input fed on the blob the module reads (ncnn
        computes only what lies downstream of a blob given), its output read back. Returns how many rows got one."""
        from yolo10port.dumps.reader import DumpReader

        rows = {row.name: row for row in report.layers}
        keys = dict.fromkeys(
            row.name.split("/")[0] for row in report.layers if row.shape is not None and row.rule != "input"
        )
        filled = 0
        with DumpReader(reference) as reader:
            for key in keys:
                if key not in self.nmap.blobs or key not in reader:
                    continue
                feeds = self._recorded_feeds(key, reader)
                if feeds is None:
                    continue
                outputs = []
                for i in range(reader.get(key).shape[0]):
                    (array,) = self.runtime.run({blob: a[i] for blob, a in feeds.items()}, [self.nmap.blobs[key]])
                    outputs.append(self.as_reference_shape(key, array))
                if any(output is None for output in outputs):
                    continue
                filled += fill_key(rows, key, reader.get(key), np.concatenate(outputs).astype(np.float64))
        report.isolated = filled > 0
        return filled

    def _recorded_feeds(self, key: str, reader) -> dict[str, np.ndarray] | None:
        """Blob → the reference's recorded input of `key`'s module, for the blobs it reads."""
        from yolo10port.candidates.ncnn_map import traced

        recorded = recorded_input(reader, key)
        if recorded is None:
            return None
        call = traced(self.nmap.scale, self.nmap.nc, *self.size).calls.get(key)
        if isinstance(recorded, list):  # a Concat or the head: its inputs are the outputs of the calls it read
            if call is None or len(call.sources) != len(recorded):
                return None
            blobs = [self.nmap.param.source(self.nmap.blobs[s]) for s in call.sources if s in self.nmap.blobs]
            if len(blobs) != len(recorded) or len(set(blobs)) != len(blobs):
                return None
            return {blob: part.astype(np.float32) for blob, part in zip(blobs, recorded)}
        blob = self.nmap.first_conv_input(key)
        if blob is None and call is not None and len(call.sources) == 1:
            source = call.sources[0]
            blob = self.nmap.input_blob if source == "input" else self.nmap.blobs.get(source)
            blob = self.nmap.param.source(blob) if blob else None
        if blob is None:
            return None
        return {blob: recorded.astype(np.float32)}


# --- check's entry: the model for these weights -------------------------------------------------------------------


def check_against_weights(candidate: NcnnCandidate, weights: Weights) -> None:
    """Refuse an ncnn model that is not these weights' one-to-one network: another scale or class count, other
    weights, or ultralytics' one-to-many export of these weights."""
    from yolo10port.candidates.module_tree import folded_stem

    nmap, name = candidate.nmap, weights.path.name
    if (nmap.scale, nmap.nc) != (weights.scale, weights.nc):
        raise InputError(
            candidate.path,
            f"the ncnn model is YOLOv10-{nmap.scale} with {nmap.nc} classes, {name} is YOLOv10-{weights.scale} with "
            f"{weights.nc}: give the model exported from these weights (yolo10port ncnn {name})",
        )
    param_path, bin_path = model_files(candidate.path)
    arrays = conv_arrays(nmap.param, bin_path)
    ours = arrays.get(nmap.conv_layers["model.0.conv"])
    theirs = folded_stem(weights)
    if ours is not None and theirs is not None and _cosine(ours, theirs) < SAME_WEIGHTS_COSINE:
        raise InputError(
            candidate.path,
            f"its model.0 conv is not {name}'s (cosine {_cosine(ours, theirs):.2f} with the checkpoint's "
            f"BatchNorm-folded model.0 conv): exported from other weights; export these (yolo10port ncnn {name})",
        )
    # The head's last class conv carries a bias and no BatchNorm: compare it with both heads of the checkpoint.
    final = "model.23.one2one_cv3.2.2"
    layer_index = nmap.conv_layers.get(final)
    state = weights.state_dict
    one2one, one2many = state.get(f"{final}.weight"), state.get("model.23.cv3.2.2.weight")
    if layer_index is not None and one2one is not None and one2many is not None:
        ours = arrays[layer_index]
        if _cosine(ours, one2many.double().numpy()) > _cosine(ours, one2one.double().numpy()):
            raise InputError(
                candidate.path,
                f"its head is {name}'s one-to-many head (ultralytics' ncnn exporter drops YOLOv10's one-to-one head), "
                f"not the NMS-free one-to-one head; export the one-to-one head instead: yolo10port ncnn {name}",
            )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.size != b.size:
        return -1.0
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))


def runtime_options(pairs: list[str] | tuple[str, ...]) -> dict[str, object]:
    return parse_options(pairs, OPTIONS, "ncnn")


def ncnn_candidate(
    kind: str, weights: Weights, files: dict[str, Path], spec: RunSpec, options: dict[str, object] | None = None
) -> NcnnCandidate:
    """`ncnn`: export these weights (one-to-one head) beside the weights export and run it; a path to an ncnn
    model: run it, after checking it is these weights' one-to-one network."""
    if kind == "ncnn":
        from yolo10port.reference.ncnn_export import export_ncnn

        # Exported at the input's own size (an image letterboxes to a rectangle): a static export runs that alone.
        _, _, h, w = make_input(spec).tensor.shape
        tag = f"{weights.source_sha256[:12]}-{h}x{w}"
        path = files["weights"].with_name(f"{files['weights'].stem}-{tag}_ncnn_model")
        if not (path / PARAM_NAME).exists():
            export_ncnn(weights, path, imgsz=spec.imgsz, shape=(h, w))
    else:
        path = Path(kind)
    candidate = NcnnCandidate.open(path, options)
    candidate.auto_square = False
    candidate.weights_sha256 = weights.source_sha256
    check_against_weights(candidate, weights)
    candidate.check_spec(spec)
    candidate.model_input(spec)
    return candidate
