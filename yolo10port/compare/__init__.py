"""Comparing dumps: per-layer errors, detection matching, tolerances, reports."""

from yolo10port.compare.engine import Report, diff_dumps
from yolo10port.compare.tolerances import Tolerances, load_tolerances

__all__ = ["Report", "Tolerances", "diff_dumps", "load_tolerances"]
