# kvstore: `make run` starts the server, `make test` runs lint and the whole suite.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BIN = $(VENV)/bin

.PHONY: run run-uvicorn test lint bench bench-short system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/daphne -b $(HOST) -p $(PORT) kvproject.asgi:application

run-uvicorn: $(VENV)/.runtime
	$(BIN)/uvicorn --host $(HOST) --port $(PORT) --no-access-log kvproject.asgi:application

bench: system-deps $(VENV)/.runtime
	$(BIN)/python -m bench.run

bench-short: system-deps $(VENV)/.runtime
	$(BIN)/python -m bench.run --short

system-deps:
	scripts/system-deps.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: system-deps $(VENV)/.dev lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
