# Two commands do all the set-up on a machine with Python 3.11+ and make:
#   make run    create .venv, install, load data/, serve on http://127.0.0.1:8000
#   make test   install what the tests need, validate data/, lint, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ASSETS := node_modules/.installed

.PHONY: run test bench bench-tools load fuzz notebook validate lint test-tools clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# Front-end assets (YASGUI, Cytoscape.js, Swagger UI) come from the npm registry at set-up, never from a CDN.
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Servers the tests drive, from Debian (installed as root when missing): chromium for the browser tests
# (Playwright's own browser download does not work here), redis-server for the rate limit shared by processes.
TEST_TOOLS := chromium=chromium chromedriver=chromium-driver redis-server=redis-server
test-tools:
	@missing=""; for tool in $(TEST_TOOLS); do command -v $${tool%%=*} >/dev/null || missing="$$missing $${tool#*=}"; done; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q $$missing >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q $$missing; }; \
	  else echo "install Debian's$$missing (apt-get install$$missing) to run the whole suite"; exit 1; fi; }

run: $(VENV)/.installed $(ASSETS)
	$(BIN)/stancegraph serve

validate: $(VENV)/.installed
	$(BIN)/stancegraph validate

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests

test: $(VENV)/.installed-test $(ASSETS) test-tools
	$(BIN)/stancegraph validate
	$(BIN)/stancegraph context --check
	$(BIN)/ruff check app tests bench
	$(BIN)/pytest -q

# The fuzzing of every operation with many more cases than `make test` runs (a few minutes).
fuzz: $(VENV)/.installed-test
	STANCEGRAPH_FUZZ_EXAMPLES=300 $(BIN)/pytest -q tests/test_fuzz.py

# Jupyter with the project's environment (the notebooks use the embedded store; no server needed).
$(VENV)/.installed-notebooks: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[notebooks]'
	@touch $@

notebook: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser notebooks/

# Not part of `make test`: prints a table against oxigraph serve, Virtuoso and rdflib-endpoint measured in the
# same run. wrk (the load generator) and Virtuoso are Debian packages; without them the bench still runs (an
# asyncio client, no Virtuoso column) and says so.
bench: $(VENV)/.installed-test bench-tools
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-tools:
	@command -v wrk >/dev/null && command -v virtuoso-t >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q wrk virtuoso-opensource-7-bin >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q wrk virtuoso-opensource-7-bin; } || true; \
	  else echo "for the full table: apt-get install wrk virtuoso-opensource-7-bin"; fi; }

# The 60 s load test next to oxigraph serve (`make test` runs a short one).
load: $(VENV)/.installed-test
	$(BIN)/python bench/load.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .venv-baselines node_modules .pytest_cache .ruff_cache
