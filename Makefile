# Set-up and everyday commands. `make demo` and `make test` work on a fresh
# Debian machine with Python 3.11 or newer.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: demo test lint install system-packages

demo: install
	PORT=$(PORT) BIN=$(BIN) scripts/demo.sh

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check depositum tests
	$(BIN)/ruff format --check depositum tests

install: system-packages $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# rsync is how Archivematica, and `depositum deposit --rsync-target`, deliver a
# DIP folder to the deposit directory.
system-packages:
	@command -v rsync >/dev/null || scripts/install-system-packages.sh rsync
