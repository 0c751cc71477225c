# Two commands for a fresh machine: `make run` (the main job on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?= ../shared/corpus

.PHONY: install install-system run test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Debian packages the tests use (real PostgreSQL, Postfix, Chromium). Idempotent.
install-system:
	bash scripts/install-system.sh

run: install
	$(BIN)/kakuri run-default

test: install install-system
	bash scripts/run-tests.sh

test-fast: install
	$(BIN)/pytest -q -m "not slow and not postfix and not browser and not postgres"

bench: install
	$(BIN)/kakuri bench scan $(CORPUS)/messages

clean:
	rm -rf $(VENV) kakuri-data .pytest_cache
