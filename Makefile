# The two commands a newcomer needs:  make run   (app on SQLite, no services)   and   make test
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# DEMO=0: do not load the demo world on the first start of an empty embedded database
DEMO ?= 1

.PHONY: run prepare test lint

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-app: setup.cfg pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-app

## run: install, migrate the embedded SQLite database (loading the demo world on its first start, unless
## DEMO=0), then serve on http://$(HOST):$(PORT)/ with the scheduler beside it; Ctrl-C stops both
run: $(VENV)/.installed-app
	@$(MAKE) --no-print-directory prepare
	@$(BIN)/flask --app wsgi scheduler run & scheduler=$$!; \
	trap 'kill $$scheduler 2>/dev/null; wait $$scheduler' EXIT; trap 'exit 130' INT TERM; \
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

## prepare: what run does before serving: upgrade the schema, the demo world on a first start
prepare:
	@$(BIN)/flask --app wsgi db upgrade
	@$(BIN)/flask --app wsgi demo first-start $(if $(filter 0,$(DEMO)),--no-demo,--demo) --url http://$(HOST):$(PORT)/

## test: install with test extras and run the suite (SQLite; PostgreSQL too with TEST_DATABASE_URL) in
## TEST_WORKERS processes (pytest-xdist; one test module per process at a time, each process with its
## own database: a SQLite file, or <name>_gw0, <name>_gw1... beside the PostgreSQL database named)
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
