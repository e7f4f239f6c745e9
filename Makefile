# yolo10port — the two commands: `make demo` and `make test` (both install what they need first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FIXTURES := build/fixtures

.PHONY: install demo test lint format clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes; a second `make install` takes seconds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(FIXTURES)/yolov10s.pt: $(STAMP)
	mkdir -p $(FIXTURES)
	$(BIN)/yolo10port fixture --scale s -o $@

demo: $(FIXTURES)/yolov10s.pt
	$(BIN)/yolo10port inspect $(FIXTURES)/yolov10s.pt
	$(BIN)/yolo10port check $(FIXTURES)/yolov10s.pt --workdir build/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check yolo10port tests
	$(BIN)/ruff format --check yolo10port tests

format: $(STAMP)
	$(BIN)/ruff format yolo10port tests
	$(BIN)/ruff check --fix yolo10port tests

clean:
	rm -rf build .pytest_cache
