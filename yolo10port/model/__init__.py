"""The clean YOLOv10 reimplementation. Imports torch and the standard library only (never ultralytics)."""

from yolo10port.model.head import postprocess
from yolo10port.model.loading import LoadError, load_state_dict
from yolo10port.model.scales import SCALES, Scale
from yolo10port.model.yolov10 import YOLOv10

__all__ = ["SCALES", "LoadError", "Scale", "YOLOv10", "load_state_dict", "postprocess"]
