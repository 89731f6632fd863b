# Quarry: `make up` runs the platform, `make test` checks it. Each target sets itself up
# on a fresh machine: a private uv in .tools/, then the locked environment in .venv/.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

# The first Python >= 3.11 on PATH (its real path, not a shim).
PYTHON := $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info >= (3, 11); print(sys.executable)' 2>/dev/null && break; \
	done)

.PHONY: help setup system-packages up demo test lint bench clean

help:
	@echo "make up     run the whole platform in the foreground (Ctrl-C stops it)"
	@echo "make demo   a demo account fed with sample data of every kind, and where to look"
	@echo "make test   lint, then every test (real PostgreSQL, Redis and S3/SQS on loopback)"
	@echo "make lint   ruff, ruff format --check, mypy --strict, import-linter"
	@echo "make bench  the gateway benchmark"
	@echo "make setup  only install the tools and the locked environment"

$(UV):
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.11 or newer is required and none was found on PATH." >&2; exit 1; fi
	@echo "Installing uv $(UV_VERSION) into $(TOOLS)/ with $(PYTHON)"
	@$(PYTHON) -m venv $(TOOLS) || { echo "error: '$(PYTHON) -m venv' failed (Debian: apt-get install python3-venv)." >&2; exit 1; }
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --compile-bytecode --python "$(PYTHON)"
	@touch $@

setup: $(VENV)/.synced

# Debian packages of the document converters (LibreOffice, Pango): installed when root,
# otherwise reported with the conversions they enable.
system-packages:
	@deploy/install-system-packages

up: setup system-packages
	$(BIN)/python -m deploy up

# Starts the platform when nothing answers on QUARRY_PORT (else uses the running one).
demo: setup system-packages
	$(BIN)/python -m demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services gateway deploy samples demo
	$(BIN)/lint-imports

test: lint system-packages
	$(BIN)/pytest

bench: setup
	@test -f bench/__main__.py || { echo "error: bench/__main__.py does not exist yet" >&2; exit 1; }
	$(BIN)/python -m bench

clean:
	rm -rf $(TOOLS) $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
