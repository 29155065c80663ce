# Two commands do all the set-up on a machine with Python 3.11+ and make:
#   make run    create .venv, install, load data/, serve on http://127.0.0.1:8000
#   make test   install what the tests need, validate data/, lint, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test validate lint clean

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

run: $(VENV)/.installed
	$(BIN)/stancegraph serve

validate: $(VENV)/.installed
	$(BIN)/stancegraph validate

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

test: $(VENV)/.installed-test
	$(BIN)/stancegraph validate
	$(BIN)/ruff check app tests
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
