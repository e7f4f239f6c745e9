"""Dumps: per-layer outputs in one safetensors file (format `yolo10port-dump/1`), written as produced."""
