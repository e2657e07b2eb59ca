# The two commands a newcomer needs:  make run  (everything, embedded database)  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint install bench

$(BIN)/oms: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/oms

run: $(BIN)/oms
	$(BIN)/oms run

test: $(BIN)/oms
	$(BIN)/pytest

lint: $(BIN)/oms
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(BIN)/oms
	$(BIN)/python -m bench
