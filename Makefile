# yolo10port — the two commands: `make demo` and `make test` (both install what they need first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FIXTURES := build/fixtures

.PHONY: install demo test lint format clean golden-summaries bench calibrate calibrate-precision

install: $(STAMP)

# Re-installs only when pyproject.toml changes; a second `make install` takes seconds. The full install (the
# reference, the clean model, the ONNX runtimes) plus the dev tools; `pip install yolo10port` alone is the light one.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[full,dev]'
	touch $(STAMP)

$(FIXTURES)/yolov10s.pt: $(STAMP)
	mkdir -p $(FIXTURES)
	$(BIN)/yolo10port fixture --scale s -o $@

# The clean model, then the model's ONNX export under ONNX Runtime (random input: the one all-ones cannot replace),
# then the trained shapes detector at the size it was trained at.
demo: $(FIXTURES)/yolov10s.pt
	$(BIN)/yolo10port inspect $(FIXTURES)/yolov10s.pt
	$(BIN)/yolo10port check $(FIXTURES)/yolov10s.pt --workdir build/demo
	$(BIN)/yolo10port check $(FIXTURES)/yolov10s.pt --candidate onnxruntime --input random:0 --workdir build/demo
	$(BIN)/yolo10port detect detector/yolov10n-shapes.pt detector/demo.png -o build/demo/demo-detections.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check yolo10port tests detector examples
	$(BIN)/ruff format --check yolo10port tests detector examples

format: $(STAMP)
	$(BIN)/ruff format yolo10port tests examples
	$(BIN)/ruff check --fix yolo10port tests examples

# Latency, check breakdown and memory figures (minutes; README's Performance table comes from here).
bench: $(STAMP)
	$(BIN)/yolo10port bench --json build/bench.json

# The full tolerance matrix (README, "Comparing and tolerances"): on the six fixtures, honest candidates on eight
# inputs must pass (no false alarm) and 36 planted bugs on random:0 and bus.jpg must fail in their own layer (no
# miss). CI runs a slice of it (tests/test_rules.py). About an hour on 2 cores.
CALIBRATION_INPUTS := ones,zeros,random:0,random:1,random:2,random:3,bus.jpg,zidane.jpg
calibrate: $(STAMP)
	mkdir -p build
	for s in n s m b l x; do \
	  $(BIN)/yolo10port selftest --scale $$s --inputs $(CALIBRATION_INPUTS) \
	    --honest clean,clean-fused,onnxruntime,openvino --mutation-inputs random:0,bus.jpg \
	    --json build/calibrate-$$s.json > build/calibrate-$$s.txt || echo "selftest $$s: FAILED (build/calibrate-$$s.txt)"; \
	done
	$(BIN)/python -m yolo10port.workflows.selftest.summary build/calibrate-n.json build/calibrate-s.json \
	  build/calibrate-m.json build/calibrate-b.json build/calibrate-l.json build/calibrate-x.json

# Regenerate the committed golden summaries (after an intended ultralytics upgrade; review the git diff).
golden-summaries: $(STAMP)
	mkdir -p $(FIXTURES)
	for s in n s m b l x; do \
	  $(BIN)/yolo10port fixture --scale $$s -o $(FIXTURES)/yolov10$$s-fixture.pt && \
	  $(BIN)/yolo10port dump $(FIXTURES)/yolov10$$s-fixture.pt -o build/golden-$$s.safetensors \
	    --no-floor --summary reference_dumps/yolov10$$s-fixture.summary.json || exit 1; \
	done

clean:
	rm -rf build .pytest_cache

# Reduced precision (README, "Reduced precision"): honest candidates in float16, bfloat16 and with Winograd kernels
# must pass by their own precision's floor; the bugged clean model, computing in that precision, must fail in its
# layer. n fixture and the trained shapes detector at 256. About an hour on 2 cores.
PRECISION_INPUTS := ones,random:0,bus.jpg
calibrate-precision: $(STAMP)
	mkdir -p build
	-$(BIN)/yolo10port selftest --scale n --imgsz 256 --inputs $(PRECISION_INPUTS) --mutation-inputs random:0,bus.jpg \
	  --precision float16 --honest clean,clean-fused,onnxruntime,openvino --weight-factor 1.01 \
	  --json build/calibrate-float16-n.json
	-$(BIN)/yolo10port selftest --scale n --imgsz 256 --inputs $(PRECISION_INPUTS) --mutation-inputs random:0,bus.jpg \
	  --precision bfloat16 --honest clean,clean-fused,openvino --weight-factor 1.03 \
	  --json build/calibrate-bfloat16-n.json
	-$(BIN)/yolo10port selftest --scale n --imgsz 256 --inputs $(PRECISION_INPUTS) --mutation-inputs random:0,bus.jpg \
	  --precision winograd --honest clean-fused,clean@winograd-f43,clean-fused@winograd-f43 \
	  --json build/calibrate-winograd-n.json
	-$(BIN)/yolo10port selftest detector/yolov10n-shapes.pt --imgsz 256 --inputs $(PRECISION_INPUTS) --no-weights \
	  --mutation-inputs random:0,bus.jpg --precision float16 --honest clean,clean-fused,onnxruntime,openvino \
	  --json build/calibrate-float16-shapes.json
