"""yolo10port: port YOLOv10 out of ultralytics and prove the port right, layer by layer."""

__version__ = "0.1.0"
