"""The command line: thin commands over the library, one module per group of commands.

Parse, call the library, render, choose the exit code (0 pass, 1 parity breach, 2 input). Nothing here imports
torch, the runtimes or ultralytics at import time: `--help`, usage errors and `diff` stay light.
"""

from yolo10port.cli import check, diff, dumps, golden, ncnn, onnx, quantize, selftest, spec, tools, val, weights  # noqa: F401  (each registers its commands)
from yolo10port.cli.app import app, main

__all__ = ["app", "main"]
