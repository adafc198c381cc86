# Two commands set everything up on a fresh machine (Python 3.11 + pip, no PostgreSQL):
#   make up    venv + package, embedded PostgreSQL 18, migrations, demo seed, summary
#   make test  the whole test suite against a throwaway embedded server
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: up down test lint render check install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/elearn-db up

down: $(STAMP)
	$(BIN)/elearn-db down

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/elearn-db lint

render: $(STAMP)
	$(BIN)/elearn-db render

check: $(STAMP)
	$(BIN)/elearn-db render --check
	$(BIN)/elearn-db lint
