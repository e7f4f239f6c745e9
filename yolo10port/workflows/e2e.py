"""End-to-end parity (`check --e2e`): ultralytics' own predictor vs the candidate, image in, boxes out.

The candidate is the one `check` ran: the clean model (fused or not, as asked) or an ONNX graph under its runtime,
fed the very tensor ultralytics' predictor made. Both sides return boxes on the *original* image; they are matched
like dump detections (same class, IoU ≥ match_iou, |Δscore| ≤ match_score, swaps at the top-k cut allowed). conf 0
keeps all max_det boxes, so the comparison covers the whole ranked list, not only the confident few.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from yolo10port.candidates.clean import load_clean_model
from yolo10port.compare.detections import DetectionMatch, match_detections
from yolo10port.compare.rules import Tolerances
from yolo10port.dumps.inputs import array_tensor, read_image
from yolo10port.dumps.keys import DETECTIONS
from yolo10port.errors import InputError
from yolo10port.reference.predict import ultralytics_predict
from yolo10port.workflows.detect import rows_on_original, scale_boxes


@dataclass
class EndToEnd:
    image: str
    match: DetectionMatch
    reference_boxes: int
    clean_boxes: int  # the candidate's boxes (the clean model's, when it is the candidate)
    input_identical: bool  # the two preprocessed tensors are equal, element for element
    candidate: str = "the clean model (fused)"  # what ran end to end, in the words of the report


def refuse_static_graph(candidate: str, image: str | Path, imgsz: int) -> None:
    """`check --candidate X.onnx|X.xml --e2e`: a static graph that cannot take the rectangle ultralytics' predictor
    feeds is refused (exit 2) before any work, with the fix."""
    if not str(candidate).endswith((".onnx", ".xml")) or not Path(candidate).is_file():
        return
    from yolo10port.candidates.onnx_graph import load_graph, map_graph

    if str(candidate).endswith(".xml"):  # an OpenVINO IR: its ops mapped as its ONNX source's would be
        from yolo10port.candidates.ir_graph import IrGraph, read_ir

        gmap = map_graph(IrGraph(read_ir(candidate), candidate))
    else:
        gmap = map_graph(load_graph(candidate))
    shape = tuple(array_tensor(read_image(image), imgsz)[0].shape)
    _refuse_if_static(Path(candidate).name, gmap, shape)


def _refuse_if_static(name: str, gmap, shape: tuple[int, ...]) -> None:
    wanted = gmap.input_shape
    if gmap.static and shape != tuple(wanted):
        raise InputError(
            "--e2e",
            f"{name} is a static {'×'.join(map(str, wanted))} graph, but ultralytics' predictor feeds this image as "
            f"{'×'.join(map(str, shape))}: export the graph with --dynamic for an end-to-end check",
        )


def graph_rows(port, tensor: torch.Tensor, original_hw: tuple[int, int], conf: float) -> torch.Tensor:
    """An ONNX candidate's final rows for a letterboxed (1, 3, h, w) input, on the original image."""
    _refuse_if_static(port.path.name, port.gmap, tuple(tensor.shape))
    name = port.gmap.input_name
    output = port.gmap.values.get(DETECTIONS) or port.graph.outputs[0]
    (rows,) = port._run({name: port._as_fed(name, tensor.numpy())}, [output])
    rows = torch.from_numpy(np.asarray(rows, dtype=np.float32))[0]
    rows = rows[rows[:, 4] > conf]  # ultralytics' end-to-end filter: strictly above conf
    rows[:, :4] = scale_boxes(rows[:, :4].clone(), tuple(tensor.shape[2:]), original_hw)
    return rows


def run_e2e(
    model_path: str | Path,
    image: str | Path,
    imgsz: int = 640,
    fuse: bool = True,
    tolerances: Tolerances | None = None,
    conf: float = 0.0,
    candidate=None,
) -> EndToEnd:
    """`candidate`: the Candidate `check` ran (clean or an ONNX graph); None: the clean model, fused or not."""
    tol = tolerances or Tolerances()
    ul_input, ul_boxes = ultralytics_predict(model_path, image, imgsz, conf)
    array = read_image(image)
    our_input, _ = array_tensor(array, imgsz)
    if candidate is not None and hasattr(candidate, "gmap"):
        ours = graph_rows(candidate, our_input, array.shape[:2], conf)
        label = candidate.label
    else:
        model = candidate.model if candidate is not None else load_clean_model(model_path, fuse=fuse)[0]
        ours = rows_on_original(model, our_input, array.shape[:2], conf)
        label = f"the clean model{' (fused)' if model.is_fused else ''}"
    same_input = our_input.shape == ul_input.shape and bool((our_input == ul_input).all())
    match = match_detections(
        ul_boxes[None].double().numpy(),
        ours[None].double().numpy(),
        tol.match_iou,
        tol.match_score,
        require_head=False,  # boxes on original-image pixels: no decoded head vouches for a tie at the cut
    )
    return EndToEnd(str(image), match, len(ul_boxes), len(ours), same_input, label)
