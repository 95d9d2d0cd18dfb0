# rostersync: the two commands (README) and a few for developers.
# Every target makes its own virtual environment in .venv, so a fresh clone needs only Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-sqlite bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## The main job on the embedded default: SQLite and a bundled demo district.
demo: $(STAMP)
	$(BIN)/rostersync demo

## The whole test suite, on SQLite and PostgreSQL (PostgreSQL tests skip if no server, unless
## ROSTERSYNC_REQUIRE_SERVICES=1).
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## Speed and memory of a sync (never in the tests): STUDENTS=100000 by default; DB=postgresql://user@host/db
## measures on PostgreSQL (in a schema of its own, dropped afterwards); BENCH_ARGS=--json for one JSON object.
bench: $(STAMP)
	$(BIN)/rostersync bench --students $${STUDENTS:-100000} $(if $(DB),--db $(DB)) $(BENCH_ARGS)
	$(BIN)/python bench/workers.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
