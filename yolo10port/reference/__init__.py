"""The reference side: the only part of yolo10port that imports ultralytics."""
