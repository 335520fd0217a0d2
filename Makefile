# Tertulia: one command to run, one to test.  Everything goes into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint typecheck clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[fast,test,dev]'
	@touch $(STAMP)

## run: set up and start the server on port 3000 (ARGS="--port 4000" to change)
run: $(STAMP)
	$(BIN)/tertulia serve $(ARGS)

## test: set up and run the whole test suite (both cores)
test: $(STAMP)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

## check: lint and type-check
check: lint typecheck
lint: $(STAMP)
	$(BIN)/ruff check src tests
typecheck: $(STAMP)
	$(BIN)/mypy --strict src/tertulia

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache
