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

# The project goes in editable and without deps (they are the pinned line before), which puts
# $(BIN)/kvcli on the venv's PATH and lets its python import kvcli from any directory.
$(VENV)/.runtime: requirements.txt constraints.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# After .runtime, not instead of it, so the editable install is never skipped.
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

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

# Two workers, a test file each at a time (module-scoped servers stay in one worker): the
# suite waits on real servers, browsers and lease deadlines more than it computes.
TEST_WORKERS ?= 2
test: system-deps $(VENV)/.dev lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
