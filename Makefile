# The two set-up commands: `make demo` runs ChatBoard, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := starlette,django,redis,client,test

.PHONY: venv test lint typecheck docs pytest pytest-postgres demo clean bench-core starlette-demo

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

# The Django suite once more on PostgreSQL (the machine's server; CI=true makes a missing one fail).
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
pytest-postgres: venv
	DATABASE_URL=$(PG_URL) $(BIN)/pytest tests/django -m "not browser"

test: lint typecheck docs pytest pytest-postgres

# ChatBoard on http://127.0.0.1:8000 with SQLite and the demo users alice and bob (docs/chatboard.md).
DEMO := cd examples/chatboard && DEBUG=$${DEBUG-1}
demo: venv
	$(DEMO) $(CURDIR)/$(BIN)/python manage.py migrate --noinput
	$(DEMO) $(CURDIR)/$(BIN)/python manage.py demo_users
	$(DEMO) $(CURDIR)/$(BIN)/uvicorn chatboard.asgi:application --host 127.0.0.1 --port 8000

# The Starlette example on http://127.0.0.1:8001: log in with any name (docs/starlette.md).
starlette-demo: venv
	$(BIN)/uvicorn --app-dir examples/starlette_chat app:app --host 127.0.0.1 --port 8001

clean:
	rm -rf $(VENV)

bench-core: venv
	$(BIN)/python benchmarks/core_fanout.py
