# The two set-up commands: `make demo` runs ChatBoard, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := starlette,django,redis,client,test

.PHONY: venv test lint typecheck docs pytest demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/python -m uv pip install -q --python $(BIN)/python -e '.[$(EXTRAS)]'
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: venv
	$(BIN)/mypy

docs: venv
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

pytest: venv
	$(BIN)/pytest

test: lint typecheck docs pytest

demo: venv
	$(BIN)/python examples/hello.py

clean:
	rm -rf $(VENV)
