"""Comparing dumps: per-row errors judged against the reference's noise floor, detection matching, reports.

numpy and safetensors only (no torch, no ultralytics): a port's CI can compare with the light install.
"""

from yolo10port.compare.engine import LayerRow, Report, diff_dumps
from yolo10port.compare.rules import Tolerances, load_tolerances

__all__ = ["LayerRow", "Report", "Tolerances", "diff_dumps", "load_tolerances"]
