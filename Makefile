# Tertulia: one command to run, one to test.  Everything goes into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run serve test bench check lint typecheck clean system-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[fast,test,dev]'
	@touch $(STAMP)

## run: set up, then start a server on port 3000 (unless one runs there) and chat on it
run: $(STAMP)
	$(BIN)/tertulia $(ARGS)

## serve: set up and run only the server (ARGS="--port 4000 --db ./chat.db")
serve: $(STAMP)
	$(BIN)/tertulia serve $(ARGS)

## test: set up and run the whole test suite (both cores)
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

## bench: Tertulia against ngircd on the same work (a few minutes); see docs/performance.md
bench: $(STAMP) system-deps
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

## system-deps: Debian packages the tests and the benchmark use (ngircd, the peer server;
##              tmux, the real terminal of the client's end-to-end test; sqlite3, the backup
##              how-to's test; chromium, the browser of the web page's tests, driven by
##              Playwright: never `playwright install`)
system-deps:
	@command -v ngircd >/dev/null 2>&1 || test -x /usr/sbin/ngircd || { \
	  echo "installing ngircd (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ngircd >/dev/null; \
	  $$SUDO systemctl disable --now ngircd >/dev/null 2>&1 || true; \
	  $$SUDO pkill -x ngircd || true; }
	@command -v sqlite3 >/dev/null 2>&1 || { \
	  echo "installing sqlite3 (Debian package: the backup how-to's test)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq sqlite3 >/dev/null; }
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tmux >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

## check: lint and type-check
check: lint typecheck
lint: $(STAMP)
	$(BIN)/ruff check src tests bench docs examples tools Main.py
typecheck: $(STAMP)
	$(BIN)/mypy --strict src/tertulia

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache
