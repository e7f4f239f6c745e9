"""Weights: safe reading of checkpoints and export to safetensors."""

from yolo10port.weights.reader import Weights, read_weights

__all__ = ["Weights", "read_weights"]
