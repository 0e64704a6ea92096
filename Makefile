# Ticket War Engine — the targets the README names.
#   make run    create .venv, install, start the engine on http://127.0.0.1:8080
#   make test   create .venv, install with test extras, run the whole suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean help services

help:  ## show the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11+)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)  ## start the engine (embedded PostgreSQL + in-process transport unless configured)
	$(BIN)/ticketwar run --seed-demo

test: $(STAMP)  ## run the whole suite against real PostgreSQL and RabbitMQ
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)  ## the suite without the fault tests
	$(BIN)/python -m pytest -m "not fault" $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check engine gateway shards ops tests
	$(BIN)/mypy

bench: $(STAMP)  ## side-by-side benchmark on this machine; writes .bench/latest.json
	bash ops/services.sh
	$(BIN)/python -m ops.bench $(BENCH_ARGS)

services:  ## start local PostgreSQL and RabbitMQ if down, enable the plugin, create test DBs
	bash ops/services.sh

clean:  ## remove the virtualenv and local state
	rm -rf $(VENV) .ticketwar .bench
