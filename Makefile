# yolo10port — the two commands: `make demo` and `make test` (both install what they need first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FIXTURES := build/fixtures

.PHONY: install demo test lint format clean golden bench

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

demo: $(FIXTURES)/yolov10s.pt
	$(BIN)/yolo10port inspect $(FIXTURES)/yolov10s.pt
	$(BIN)/yolo10port check $(FIXTURES)/yolov10s.pt --workdir build/demo
	$(BIN)/yolo10port detect detector/yolov10n-shapes.pt detector/demo.png --imgsz 256 -o build/demo/demo-detections.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check yolo10port tests detector
	$(BIN)/ruff format --check yolo10port tests detector

format: $(STAMP)
	$(BIN)/ruff format yolo10port tests
	$(BIN)/ruff check --fix yolo10port tests

# Latency, check breakdown and memory figures (minutes; README's Performance table comes from here).
bench: $(STAMP)
	$(BIN)/yolo10port bench --json build/bench.json

# Regenerate the committed golden summaries (after an intended ultralytics upgrade; review the git diff).
golden: $(STAMP)
	mkdir -p $(FIXTURES)
	for s in n s m b l x; do \
	  $(BIN)/yolo10port fixture --scale $$s -o $(FIXTURES)/yolov10$$s-fixture.pt && \
	  $(BIN)/yolo10port dump $(FIXTURES)/yolov10$$s-fixture.pt -o build/golden-$$s.safetensors \
	    --summary reference_dumps/yolov10$$s-fixture.summary.json || exit 1; \
	done

clean:
	rm -rf build .pytest_cache
