# Set-up and everyday commands. `make demo` and `make test` work on a fresh
# Debian machine with Python 3.11 or newer.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The PyPI sword2 client pins lxml below 5, so the tests run it from a
# virtualenv of its own.
SWORD2_VENV ?= .venv-sword2
# metsrw, which the benchmark compares against, pins its own dependencies, so it
# runs from a virtualenv of its own.
BENCH_VENV ?= .venv-bench
# The upload benchmark also runs depositum installed without extras, as the
# embedded default needs it.
LEAN_VENV ?= .venv-lean

.PHONY: demo test lint install system-packages benchmark browser-packages

demo: install
	PORT=$(PORT) BIN=$(BIN) scripts/demo.sh

test: install browser-packages $(SWORD2_VENV)/.installed
	DEPOSITUM_TEST_SWORD2_PYTHON=$(abspath $(SWORD2_VENV))/bin/python $(BIN)/pytest

lint: install
	$(BIN)/ruff check depositum tests
	$(BIN)/ruff format --check depositum tests

install: system-packages $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Arguments go to benchmarks/run.py, e.g. make benchmark BENCHMARK_ARGS="--sizes 1000".
benchmark: install $(BENCH_VENV)/.installed $(LEAN_VENV)/.installed
	$(BIN)/python benchmarks/run.py $(BENCHMARK_ARGS)

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet metsrw==0.7.0
	touch $@

$(LEAN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LEAN_VENV)
	$(LEAN_VENV)/bin/pip install --quiet --upgrade pip
	$(LEAN_VENV)/bin/pip install --quiet -e .
	touch $@

$(SWORD2_VENV)/.installed:
	$(PYTHON) -m venv $(SWORD2_VENV)
	$(SWORD2_VENV)/bin/pip install --quiet sword2==0.3
	touch $@

# rsync is how Archivematica, and `depositum deposit --rsync-target`, deliver a
# DIP folder to the deposit directory; the tests also drive curl.
system-packages:
	@command -v rsync >/dev/null || scripts/install-system-packages.sh rsync
	@command -v curl >/dev/null || scripts/install-system-packages.sh curl

# The browser tests drive Debian's Chromium through Playwright, and Chromium
# needs a font to draw text in screenshots.
browser-packages:
	@command -v chromium >/dev/null || \
		scripts/install-system-packages.sh chromium fonts-dejavu-core
