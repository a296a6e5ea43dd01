# Every target bootstraps its own virtual environment (.venv) from a bare Python.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench bench-tools chaos venv browser clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import flexfulfill, fastapi, sqlalchemy, svix, playwright"
	@touch $@

venv: $(STAMP)

# Debian's Chromium drives the browser tests; a browser is never downloaded at run time.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

demo: venv
	$(BIN)/flexfulfill up --demo

test: venv browser
	$(BIN)/python -m pytest

check: venv
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

bench: venv bench-tools
	$(BIN)/python -m bench

# The ingest benchmark's load generator (Debian's wrk) and its Express baseline (Node).
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	@test -d bench/express/node_modules || (cd bench/express && npm ci --no-audit --no-fund)

# The chaos run (bench/chaos): N checkouts through every fault at once, then the checks.
N ?= 10000
ENGINE ?= sqlite,postgres
chaos: venv
	$(BIN)/python -m bench.chaos --n $(N) --engine $(ENGINE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
