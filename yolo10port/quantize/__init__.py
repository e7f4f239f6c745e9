"""INT8 ports: quantize a float YOLOv10 graph with the project's preprocessing, find the layers that must stay in
float, and write that set for ONNX Runtime (`nodes_to_exclude`) and NNCF (`ignored_scope`). See workflow.py."""
