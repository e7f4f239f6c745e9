"""`yolo10port val`: parity on a dataset. Reference and candidate on every image, per-image detection diffs at the
user's confidence, and with labels both sides' mAP and the paired bootstrap interval of their difference.

Preprocessing is the predictor's own (dumps/inputs.py: letterbox to the minimal stride-32 rectangle, pad 114,
BGR→RGB, /255, the arithmetic `check --e2e` proves equal to ultralytics' predictor), done once per image and fed to
both sides when the tool runs both; the report records it. When the reference is a golden set and the candidate a
folder of results, nothing is run: no torch, no ultralytics (the light install, plus pycocotools for mAP).
"""

from __future__ import annotations

import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yolo10port.compare.dataset import MAX_DET, DatasetDiff, ImageDiff, input_cause, match_image, scale_rows
from yolo10port.compare.dataset_map import MapResult, dataset_map
from yolo10port.errors import InputError
from yolo10port.workflows.val_data import Dataset, labels_in_pixels, load_dataset
from yolo10port.workflows.val_sides import GOLDEN_INDEX, FolderSide, Runner, Setup, SideOutput, make_runner

MAP_CONF = 0.001  # what YOLO val keeps for mAP (ultralytics' default val conf)


FLOAT_MAX_MAP_DROP, FLOAT_MIN_MATCH = 0.005, 0.99
INT8_MAX_MAP_DROP = 0.02  # quantize's default budget (quantize/workflow.py DEFAULT_BUDGET): the same verdict twice


@dataclass(frozen=True)
class Gate:
    """What val fails on. None: the default for the candidate (`resolved`)."""

    max_map_drop: float | None = None  # mAP50-95, reference − candidate
    min_match: float | None = None  # None once resolved: reported, not gated

    def resolved(self, int8: bool, labelled: bool) -> Gate:
        """A float port must reproduce the reference's boxes: match rate ≥ 0.99 at IoU 0.9 and mAP50-95 within
        0.005. An INT8 graph cannot (8-bit boxes move by more than IoU 0.9 allows, and scores by ~0.03), and its
        verdict is the task's: mAP50-95 within quantize's budget, 0.02, with the match rate reported but not gated
        when labels give the mAP. Without labels an INT8 graph keeps the match-rate gate. Options given win."""
        quantized = int8 and labelled
        return Gate(
            self.max_map_drop if self.max_map_drop is not None else INT8_MAX_MAP_DROP if int8 else FLOAT_MAX_MAP_DROP,
            self.min_match if self.min_match is not None else None if quantized else FLOAT_MIN_MATCH,
        )


@dataclass
class ValResult:
    model: str
    candidate: str
    reference_label: str
    candidate_label: str
    data: str
    preprocessing: dict
    diff: DatasetDiff
    map: MapResult | None
    gate: Gate
    throughput: dict[str, float | None]  # images/s per side; None: read from files, not run
    seconds: float
    drill: dict[str, str] = field(default_factory=dict)  # image stem → the one command that drills into it
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    notes: list[str] = field(default_factory=list)
    rows: dict = field(default_factory=dict, repr=False)  # stem → both sides' rows (thumbnails; not reported)

    @property
    def checks(self) -> list[tuple[str, bool, str]]:
        """The gate, item by item: (name, passed, what was measured against what)."""
        rate, least = self.diff.match_rate, self.gate.min_match
        items = [] if least is None else [("match rate", rate >= least, f"match rate {rate:.4f} (min {least:g})")]
        if not self.diff.informative and self.map is None:  # ties decide nothing, and no labels judge instead
            items.append(
                (
                    "detections",
                    False,
                    f"nothing informative compared: all {self.diff.total('reference')} reference boxes are ties at "
                    "the max_det cut (saturated scores); give labelled images or images it does not saturate on",
                )
            )
        if self.map is not None:
            drop = self.map.drop
            ok = bool(np.isfinite(drop)) and drop <= self.gate.max_map_drop
            shown = format(drop + 0.0, ".1e" if 0 < abs(drop) < 5e-5 else ".4f")  # + 0.0: never "-0.0000"
            items.append(("mAP50-95 drop", ok, f"mAP50-95 drop {shown} (max {self.gate.max_map_drop:g})"))
        differing = sum(image.input_cause is not None for image in self.diff.images)
        if differing:  # like diff's `input` row: a candidate fed another tensor is not the same pipeline
            items.append(("input", False, f"input differs from the reference's on {differing} images"))
        return items

    @property
    def failures(self) -> list[str]:
        return [text for _, ok, text in self.checks if not ok]

    @property
    def passed(self) -> bool:
        return not self.failures

    def likely_cause(self) -> str | None:
        """The preprocessing difference seen on most images, when the candidate's input is known to differ."""
        causes = self.diff.input_causes()
        if not causes:
            return None
        cause, count = next(iter(causes.items()))
        return f"the candidate's input differs from the reference's on {count}/{len(self.diff.images)} images: {cause}"


def is_golden(path: Path) -> bool:
    return path.is_dir() and (path / GOLDEN_INDEX).is_file()


def _predictor_check(model: Path, image: Path, imgsz: int, tensor) -> bool:
    """Whether ultralytics' own predictor fed its network exactly the tensor val feeds both sides (first image)."""
    from yolo10port.reference.predict import ultralytics_predict

    theirs, _ = ultralytics_predict(model, image, imgsz)
    return tuple(theirs.shape) == tuple(tensor.shape) and bool((theirs == tensor).all())


def _drill(
    model: Path, candidate: str, image: Path, stem: str, reference, cand, imgsz: int, square: bool, dtype: str
) -> str:
    q = shlex.quote
    size = f" --imgsz {imgsz}" + (" --square" if square else "")
    if isinstance(cand, FolderSide):
        # A foreign port: diff the reference's dump of this image with the port's (a JSON result holds only boxes:
        # the port then dumps its layers for this image, fed the reference dump's `input`).
        port = cand.file(stem)
        port_dump = str(port) if port.suffix == ".safetensors" else f"PORT-DUMP-OF-{stem}.safetensors"
        if isinstance(reference, FolderSide):
            return f"yolo10port diff {q(str(reference.file(stem)))} {q(port_dump)}"
        ref_dump = f"{stem}.reference.safetensors"
        return (
            f"yolo10port dump {q(str(model))} --input {q(str(image))}{size} -o {q(ref_dump)} && "
            f"yolo10port diff {q(ref_dump)} {q(port_dump)}"
        )
    precision = f" --dtype {dtype}" if dtype != "float32" else ""
    return (
        f"yolo10port check {q(str(model))} --candidate {q(candidate)} --input {q(str(image))}{size}{precision} --drill"
    )


MAX_CLASSES = 10_000  # bounds the COCO evaluation's category table (a YOLOv10 head has nc classes, COCO 80)


def _on_original(output: SideOutput, image_hw: tuple[int, int], map_conf: float, where: str) -> np.ndarray:
    """The rows on the original image, above the mAP confidence; rows with NaN/Inf are dropped (their boxes then
    count as lost), and a class that is no class id is an input error, not something to allocate for."""
    rows = output.rows if output.on_original else scale_rows(output.rows, output.input_hw, image_hw)
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
    rows = rows[np.isfinite(rows).all(1) & (rows[:, 4] > map_conf)]
    classes = rows[:, 5]
    bad = classes[(classes < 0) | (classes >= MAX_CLASSES) | (classes != np.round(classes))]
    if len(bad):
        raise InputError(where, f"class {bad[0]:g} is not a class id (an integer in 0…{MAX_CLASSES - 1})")
    return rows


def run_val(
    model: str | Path,
    data: str | Path,
    candidate: str = "clean",
    imgsz: int = 640,
    square: bool = False,
    conf: float = 0.25,
    iou: float = 0.9,
    map_conf: float = MAP_CONF,
    resamples: int = 500,
    seed: int = 0,
    dtype: str = "float32",
    fuse: bool = False,
    device: str = "cpu",
    workdir: Path | None = None,
    gate: Gate = Gate(),  # defaults resolved for the candidate (Gate.resolved)
    progress: Callable[[int, int], None] = lambda done, total: None,
    status: Callable[[str], None] = lambda line: None,
    keep_rows: bool = False,
) -> ValResult:
    """Reference and candidate over the dataset; see the module's docstring. `keep_rows` keeps each image's rows
    on both sides (on the original image) in `result.rows`, for thumbnails."""
    model, data = Path(model), Path(data)
    # hf:OWNER/NAME is found in the local cache by the weights reader (not imported here: it imports torch).
    if not model.exists() and not str(model).startswith("hf:"):
        raise InputError(model, "no such file or folder")
    dataset: Dataset = load_dataset(data)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="yolo10port-val-") as scratch:
        setup = Setup(model, imgsz, square, dtype, fuse, device, workdir or Path(scratch))
        reference, cand = _sides(model, candidate, setup, status)
        result = _run(
            model, candidate, dataset, reference, cand, setup, conf, iou, map_conf, progress, status, keep_rows
        )
    labelled = dataset.labels is not None
    if labelled:
        status(f"mAP of both sides and {resamples} paired bootstrap resamples…")
        labels, ref_rows, cand_rows, nc = result.pop("map_inputs")
        began = time.perf_counter()
        mean_ap = dataset_map(labels, ref_rows, cand_rows, nc, resamples, seed)
        result["timings"]["mAP and bootstrap"] = time.perf_counter() - began
    else:
        result.pop("map_inputs")
        mean_ap = None
    int8 = getattr(cand, "precision", None) == "int8"
    outcome = ValResult(
        model=str(model),
        candidate=candidate,
        data=dataset.source,
        map=mean_ap,
        gate=gate.resolved(int8, labelled),
        seconds=time.perf_counter() - started,
        **result,
    )
    if not labelled:
        outcome.notes.append(
            "no labels found (YOLO .txt beside the images or under labels/): detections compared, no mAP"
        )
    tied = outcome.diff.total("cut_excused")
    if tied:
        images = sum(image.cut_excused > 0 for image in outcome.diff.images)
        outcome.notes.append(
            f"{tied} reference boxes on {images} images are ties at the max_det cut: the model kept {MAX_DET} boxes "
            "above conf, all within 0.01 of the lowest (saturated scores), so which ones it keeps is arbitrary; they "
            "are excused and left out of the match rate (those images cannot test post-processing)"
        )
    if int8 and outcome.gate.min_match is None:
        outcome.notes.append(
            f"INT8 graph: judged by its mAP50-95 drop (max {outcome.gate.max_map_drop:g}); the match rate "
            f"({outcome.diff.match_rate:.4f}) is reported, not gated (--min-match gates it)"
        )
    elif int8:
        outcome.notes.append("INT8 graph without labels: only the match rate judges it; labels give the task verdict")
    return outcome


def _sides(model: Path, candidate: str, setup: Setup, status: Callable[[str], None]):
    from yolo10port.workflows.val_sides import check_candidate, is_ncnn_model

    cand_path = Path(candidate)
    check_candidate(candidate)  # a typo fails in a second, before the reference is loaded
    if is_golden(model):
        if not cand_path.is_dir():
            raise InputError(
                "--candidate",
                f"MODEL {model} is a golden set, so the candidate must be a folder of per-image results "
                f"({candidate!r} needs the weights: give them as MODEL)",
            )
        reference = FolderSide(model, "reference")
    elif model.is_dir() and not (model / "config.json").is_file() and not (model / "model.safetensors").is_file():
        raise InputError(
            model,
            f"is a folder without {GOLDEN_INDEX}: give weights, or a golden set (yolo10port golden MODEL --inputs DIR)",
        )
    else:
        from yolo10port.dumps.spec import check_imgsz

        check_imgsz(setup.imgsz)
        status("loading the ultralytics reference…")
        from yolo10port.workflows.val_sides import ReferenceRunner

        reference = ReferenceRunner(setup)
    if cand_path.is_dir() and not is_ncnn_model(candidate):  # an ncnn model folder is a model, not results
        cand = FolderSide(cand_path, "candidate")
    else:
        status(f"loading the candidate {candidate}…")
        cand = make_runner(candidate, setup)
    return reference, cand


def _image_hw(image: Path, reference, cand) -> tuple[int, int]:
    for side in (reference, cand):
        if isinstance(side, FolderSide) and side.image_hw(image.stem):
            return side.image_hw(image.stem)
    try:
        from yolo10port.dumps.inputs import read_image
    except ModuleNotFoundError:
        raise InputError(
            image,
            "its size is recorded nowhere (a golden set made by `golden --inputs DIR` records it) and reading "
            "images needs OpenCV (the full install)",
        ) from None
    return read_image(image).shape[:2]


def _run(model, candidate, dataset, reference, cand, setup, conf, iou, map_conf, progress, status, keep_rows) -> dict:
    for side in (reference, cand):
        if isinstance(side, FolderSide):
            missing = [stem for stem in dataset.stems if not side.has(stem)]
            if missing:
                raise InputError(
                    side.folder,
                    f"has no result for {len(missing)} of the {len(dataset.images)} images (e.g. "
                    f"{missing[0]}.safetensors or {missing[0]}.json)",
                )
    runs = isinstance(reference, Runner) or isinstance(cand, Runner)
    seconds = {"reference": 0.0, "candidate": 0.0, "preprocessing": 0.0}
    images: list[ImageDiff] = []
    labels, ref_rows, cand_rows, rows = [], [], [], {}
    drill: dict[str, str] = {}
    predictor_identical = None
    notes: list[str] = []
    total = len(dataset.images)
    for number, image in enumerate(dataset.images):
        stem = image.stem
        tensor = None
        if runs:
            from yolo10port.dumps.inputs import array_tensor, read_image

            began = time.perf_counter()
            array = read_image(image)
            tensor, _ = array_tensor(array, setup.imgsz, auto=not setup.square)
            image_hw = array.shape[:2]
            seconds["preprocessing"] += time.perf_counter() - began
            if number == 0 and isinstance(reference, Runner) and not setup.square:
                status("checking the preprocessing against ultralytics' predictor on the first image…")
                predictor_identical = _predictor_check(model, image, setup.imgsz, tensor)
        else:
            image_hw = _image_hw(image, reference, cand)
        outputs = {}
        for role, side in (("reference", reference), ("candidate", cand)):
            out = side.detect(tensor, stem) if isinstance(side, Runner) else side.detect(stem)
            seconds[role] += out.seconds
            outputs[role] = out
        ref_out, cand_out = outputs["reference"], outputs["candidate"]
        ref_kept = _on_original(ref_out, image_hw, map_conf, f"{reference.label}, image {stem}")
        cand_kept = _on_original(cand_out, image_hw, map_conf, f"{cand.label}, image {stem}")
        diff = match_image(stem, str(image), ref_kept, cand_kept, conf, iou)
        diff.input_cause = input_cause(ref_out.input, cand_out.input)
        images.append(diff)
        ref_rows.append(ref_kept)
        cand_rows.append(cand_kept)
        if dataset.labels is not None:
            labels.append(labels_in_pixels(dataset.labels[number], image_hw))
        if keep_rows:
            rows[stem] = (ref_kept, cand_kept)
        drill[stem] = _drill(model, candidate, image, stem, reference, cand, setup.imgsz, setup.square, setup.dtype)
        progress(number + 1, total)
    if isinstance(cand, FolderSide) and all(d.input_cause is None for d in images):
        sample = cand.detect(dataset.stems[0])
        if sample.input is None:
            notes.append(
                "the candidate's results do not record the input it was fed: its preprocessing is not "
                "checked (write `input` into each dump to have it checked)"
            )
    classes = [int(r[:, 5].max()) + 1 for r in ref_rows + cand_rows if len(r)]
    classes += [int(lab[:, 0].max()) + 1 for lab in labels if len(lab)]
    nc = max([len(dataset.names), *classes, 1])
    throughput = {
        role: (total / seconds[role] if seconds[role] > 0 else None) if isinstance(side, Runner) else None
        for role, side in (("reference", reference), ("candidate", cand))
    }
    preprocessing = _preprocessing(setup, runs, reference, predictor_identical)
    return {
        "reference_label": reference.label,
        "candidate_label": cand.label,
        "preprocessing": preprocessing,
        "diff": DatasetDiff(images, conf, iou),
        "throughput": throughput,
        "timings": {f"{name} runs" if name != "preprocessing" else name: t for name, t in seconds.items() if t},
        "drill": drill,
        "notes": notes,
        "map_inputs": (labels, ref_rows, cand_rows, nc),
        "rows": rows,
    }


def _preprocessing(setup: Setup, runs: bool, reference, predictor_identical: bool | None) -> dict:
    if not runs:
        index = getattr(reference, "index", None) or {}
        return {
            "by": "the golden set's producer (ultralytics' predictor letterbox)",
            "letterbox": "square" if index.get("square") else "rect",
            "imgsz": index.get("imgsz"),
            "channels": "RGB",
        }
    return {
        "by": "yolo10port.dumps.inputs (the predictor's arithmetic), once per image, the same tensor to both sides",
        "letterbox": "square" if setup.square else "rect",
        "letterbox_detail": (
            f"full {setup.imgsz}×{setup.imgsz} square"
            if setup.square
            else f"longest side {setup.imgsz}, padded to the minimal stride-32 rectangle (ultralytics' predictor)"
        ),
        "imgsz": setup.imgsz,
        "channels": "RGB (OpenCV's BGR reversed)",
        "pad_value": 114,
        "scale": "1/255",
        "resize": "cv2.INTER_LINEAR",
        "predictor_identical": predictor_identical,
    }
