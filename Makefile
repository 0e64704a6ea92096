# Ticket War Engine — the targets the README names.
#   make run    create .venv, install, start the engine on http://127.0.0.1:8080
#   make test   create .venv, install with test extras, run the whole suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast test-cluster test-webui lint bench actorbench senderbench capacity soak clean help services webui docs

help:  ## show the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

# Quiet on purpose: a first `make run` should end with the engine's own lines, not pages
# of installer output. -qq keeps pip's errors and drops its warnings (a machine's pip
# configuration can add dozens); rerun without @ and -qq to see everything.
$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11+)"; exit 1; }
	@echo "installing the Python packages into $(VENV) (a minute or two the first time)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e '.[test,dev,bench]'
	@touch $(STAMP)

# The web UI: npm installs from the lock file, Vite builds into webui/dist (served at /).
WEBUI_SRC := $(shell find webui/src -type f) webui/index.html webui/api-docs.html webui/favicon.svg webui/vite.config.ts webui/tsconfig.json
WEBUI_DEPS := webui/node_modules/.installed
WEBUI := webui/dist/index.html

$(WEBUI_DEPS): webui/package.json webui/package-lock.json
	@command -v npm >/dev/null || { echo "need Node.js and npm to build the web UI"; exit 1; }
	@echo "installing the web UI's packages (npm ci)"
	@cd webui && npm ci --no-audit --no-fund --loglevel=error >/dev/null  # errors: stderr
	@touch $@

$(WEBUI): $(WEBUI_DEPS) $(WEBUI_SRC)
	@echo "building the web UI"
	@cd webui && npm run --silent build -- --logLevel warn

webui: $(WEBUI)  ## build the web UI into webui/dist

run: $(STAMP) $(WEBUI)  ## start the engine (embedded PostgreSQL + in-process transport unless configured)
	@$(BIN)/ticketwar run --seed-demo

# The tests talk to real PostgreSQL and RabbitMQ: start them first (a no-op when they run).
test: $(STAMP) $(WEBUI) services  ## run the whole suite against real PostgreSQL and RabbitMQ
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) $(WEBUI) services  ## the suite without the fault and cluster tests
	$(BIN)/python -m pytest -m "not fault and not cluster" $(PYTEST_ARGS)

# The cluster tests bring up ops/cluster/ (ten network namespaces: needs root and `ip netns`)
# and break its network mid-surge; `make test` runs them too, this runs only them.
test-cluster: $(STAMP) $(WEBUI) services  ## the cluster tests alone (namespaces; needs root)
	$(BIN)/python -m pytest -m cluster $(PYTEST_ARGS)

test-webui: $(WEBUI_DEPS)  ## the web UI's unit tests (vitest; make test runs them too)
	cd webui && npm run --silent test

lint: $(STAMP) $(WEBUI_DEPS)  ## ruff, mypy, and the web UI's TypeScript check
	$(BIN)/ruff check engine gateway shards ops tests
	$(BIN)/mypy
	cd webui && npm run --silent typecheck

bench: $(STAMP) services  ## side-by-side benchmark on this machine; writes .bench/latest.json
	$(BIN)/python -m ops.bench $(BENCH_ARGS)

actorbench: $(STAMP) services  ## one shard actor on PostgreSQL vs raw batched inserts; writes .bench/actorbench.json
	$(BIN)/python -m ops.actorbench $(ACTORBENCH_ARGS)

senderbench: $(STAMP) services  ## the outbox sender alone: CPU per email by rows per transaction
	$(BIN)/python -m ops.senderbench $(SENDERBENCH_ARGS)

capacity: $(STAMP) services  ## per-component costs measured here, hosts for 100k and 1M req/s; writes .bench/capacity.json
	$(BIN)/python -m ops.capacity $(CAPACITY_ARGS)

docs: $(STAMP)  ## regenerate docs/api.md from the gateway's OpenAPI document
	$(BIN)/python -m ops.apidoc

soak: services $(STAMP)  ## overload at twice the measured capacity; writes .bench/soak.json
	$(BIN)/python -m ops.soak $(SOAK_ARGS)

services:  ## start local PostgreSQL and RabbitMQ if down, enable the plugin, create the test DB
	@bash ops/services.sh

clean:  ## remove the virtualenv and local state
	rm -rf $(VENV) .ticketwar .bench webui/node_modules webui/dist
