# The two set-up commands: `make demo` runs ChatBoard, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := starlette,django,chatboard,redis,postgres,client,server,test

.PHONY: test-matrix test-matrix-sample
.PHONY: bench-joins
.PHONY: venv test lint typecheck docs pytest pytest-postgres demo clean bench-core bench bench-memory bench-reactions starlette-demo soak demo-scale

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/python -m uv pip install -q --python $(BIN)/python -e '.[$(EXTRAS)]'
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check src tests benchmarks examples docs_support
	$(BIN)/ruff format --check src tests benchmarks examples docs_support

typecheck: venv
	$(BIN)/mypy

docs: venv
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

pytest: venv
	$(BIN)/pytest -m "not soak and not cluster"

# Everything on a real local Redis Cluster (3 masters + 3 replicas the tests start on free ports,
# docs/scale.md): the wire, the conformance suite, the two-process suites, ChatBoard's two boards,
# a master killed and a slot migrated under a chat. About 3 minutes; CI runs it after `make test`.
.PHONY: test-cluster
test-cluster: venv
	$(BIN)/pytest -m cluster

# The Django suite once more on PostgreSQL (the machine's server; CI=true makes a missing one fail).
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
# (The slow-consumer test is about the consumer, not the database, and needs ~2,000 posts: too
# slow with PostgreSQL's per-commit flush, so it runs on SQLite only.)
pytest-postgres: venv
	DATABASE_URL=$(PG_URL) $(BIN)/pytest tests/django -m "not browser" \
		--deselect tests/django/test_slow_consumer.py::test_a_client_that_stops_reading_is_ended_and_leaves

test: lint typecheck docs test-js pytest pytest-postgres

# chatcore.js in Node: tsc checks its types (chatcore.d.ts, used as tests/js/types/usage.ts does)
# and `node --test` drives its client logic against a fake server (tests/js). Needs Node 20 and npm;
# ~5 s, plus `npm ci` the first time.
.PHONY: test-js
test-js: tests/js/node_modules/.package-lock.json
	cd tests/js && node_modules/.bin/tsc -p . && node --test --test-reporter=spec *.test.js
tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

# The long reliability runs (docs/reliability.md): 10,000 fuzzed frames, a 500-client disconnect
# storm, latency beside stalled readers. About 3 minutes; CI runs it after `make test`.
soak: venv
	$(BIN)/pytest -m soak tests/reliability

# The version matrix (noxfile.py, docs/versions.md): the core, Starlette and Django suites in a venv
# of their own per supported Python (pyenv's builds), Starlette, Django and Channels; ~8 minutes.
# test-matrix-sample runs the oldest and the newest combination of each suite (~3 minutes); CI runs
# it after `make test`. With CI=true a missing Python fails the run instead of skipping sessions.
NOX = $(BIN)/nox $(if $(filter true,$(CI)),--error-on-missing-interpreters)
$(BIN)/nox: $(STAMP)
	$(BIN)/python -m uv pip install -q --python $(BIN)/python 'nox>=2026.10.20'

test-matrix: $(BIN)/nox
	$(NOX) -t matrix

test-matrix-sample: $(BIN)/nox
	$(NOX) -t sample

# ChatBoard on http://127.0.0.1:8000 with SQLite and the demo users alice and bob (docs/chatboard.md).
DEMO := cd examples/chatboard && DEBUG=$${DEBUG-1}
demo: venv
	$(DEMO) $(CURDIR)/$(BIN)/python manage.py migrate --noinput
	$(DEMO) $(CURDIR)/$(BIN)/python manage.py demo_users
	$(DEMO) $(CURDIR)/$(BIN)/uvicorn chatboard.asgi:application --host 127.0.0.1 --port 8000

# ChatBoard as two processes behind http://127.0.0.1:8000 (uvicorn --workers 2) sharing PostgreSQL
# and Redis, with the demo users alice and bob (docs/scale.md). The database is created if missing.
SCALE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chatboard
SCALE_REDIS_URL ?= redis://127.0.0.1:6379/0
SCALE := $(DEMO) DATABASE_URL=$(SCALE_DATABASE_URL) CHATCORE_REDIS_URL=$(SCALE_REDIS_URL)
SCALE_CREATEDB = $(BIN)/python -c 'import sys, psycopg; base, name = sys.argv[1].rsplit("/", 1); \
	db = psycopg.connect(base + "/postgres", autocommit=True); \
	db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() \
	or db.execute(f"CREATE DATABASE \"{name}\"")' $(SCALE_DATABASE_URL)
demo-scale: venv
	$(SCALE_CREATEDB)
	$(SCALE) $(CURDIR)/$(BIN)/python manage.py migrate --noinput
	$(SCALE) $(CURDIR)/$(BIN)/python manage.py demo_users
	$(SCALE) $(CURDIR)/$(BIN)/uvicorn chatboard.asgi:application --host 127.0.0.1 --port 8000 \
		--workers 2

# The same with PostgreSQL alone: the database is the broker too (CHATCORE_BROKER=postgres; no Redis).
SCALE_PG := $(DEMO) DATABASE_URL=$(SCALE_DATABASE_URL) CHATCORE_BROKER=postgres CHATCORE_REDIS_URL=
.PHONY: demo-scale-pg
demo-scale-pg: venv
	$(SCALE_CREATEDB)
	$(SCALE_PG) $(CURDIR)/$(BIN)/python manage.py migrate --noinput
	$(SCALE_PG) $(CURDIR)/$(BIN)/python manage.py demo_users
	$(SCALE_PG) $(CURDIR)/$(BIN)/uvicorn chatboard.asgi:application --host 127.0.0.1 --port 8000 \
		--workers 2

# The Starlette example on http://127.0.0.1:8001: log in with any name (docs/starlette.md).
starlette-demo: venv
	$(BIN)/uvicorn --app-dir examples/starlette_chat app:app --host 127.0.0.1 --port 8001

# The standalone server on http://127.0.0.1:8003 with guests and a page using chatcore.js
# (examples/serve_demo; docs/server.md).
.PHONY: serve-demo
serve-demo: venv
	$(BIN)/chatcore serve --guests --static examples/serve_demo --port 8003 --log-format text

# The FastAPI example on http://127.0.0.1:8002 (docs/fastapi.md).
.PHONY: fastapi-demo
fastapi-demo: venv
	$(BIN)/uvicorn --app-dir examples/fastapi_chat app:app --host 127.0.0.1 --port 8002

clean:
	rm -rf $(VENV)

# docs/asyncapi.yaml again from the command and event classes (tests/docs/test_asyncapi.py
# fails while it differs).
.PHONY: asyncapi
asyncapi: venv
	$(BIN)/python -m chatcore.wire.asyncapi docs/asyncapi.yaml

# The join storm of issue #16 (benchmarks/join_storm.py): N distinct users join one room, on
# Starlette and on the native adapter, in one process and two on Redis; CPU per join, RSS per
# member, idle CPU, CPU per delivery (raw and net of the idle CPU), beside the code of main
# (BASE, a `git archive` of its src/). About 35 minutes. The largest size is 19,800, not 20,000:
# a process may hold 20,000 files here (the hard limit of `ulimit -n`, which this container may
# not raise), and both the server and the generator need one per socket and a few more;
# join_storm.py raises its soft limit to the hard one (and the hard one where it may).
STORM_SIZES ?= 1000,10000,19800
bench-joins: venv
	rm -rf $(VENV)/storm-base && mkdir -p $(VENV)/storm-base
	git archive $${BASE:-main} src | tar -x -C $(VENV)/storm-base
	$(BIN)/python benchmarks/join_storm.py --sizes $(STORM_SIZES) \
		--baseline-src $(VENV)/storm-base/src --baseline-sizes 1000,10000 $(BENCH_ARGS)

bench-core: venv
	$(BIN)/python benchmarks/core_fanout.py
	$(BIN)/python benchmarks/core_joins.py
	$(BIN)/python benchmarks/core_joins.py --history 50

# A reaction storm beside plain messages in a room of 1,000: CPU per reaction as a ratio to a
# message (docs/performance.md), ~1 minute; BENCH_ARGS=--redis for the Redis backends.
bench-reactions: venv
	$(BIN)/python benchmarks/reaction_storm.py $(BENCH_ARGS)

# RSS growth of a real server under 50 clients that stop reading (docs/reliability.md), ~1 minute.
bench-memory: venv
	$(BIN)/python benchmarks/memory_bound.py $(BENCH_ARGS)

# The scale-out brokers side by side, alternating: Redis and PostgreSQL (docs/scale.md);
# BENCH_ARGS="--engines redis,cluster" for one Redis against a local Redis Cluster.
.PHONY: bench-brokers
bench-brokers: venv
	$(BIN)/python benchmarks/brokers.py $(BENCH_ARGS)

# chatcore beside the peer stacks over real sockets, then the p99 rounds, ~23 minutes
# (docs/performance.md); BENCH_ARGS="--repeat 3" for three runs per row (~1 hour).
# Needs Redis on 127.0.0.1:6379 (or CHATCORE_REDIS_URL) for the Redis targets.
bench: venv
	$(BIN)/python -m uv pip install -q --python $(BIN)/python -e '.[$(EXTRAS),bench]'
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/charts.py --docs > benchmarks/results/latest.md

# The release artefacts: a wheel and an sdist in dist/ (see CHANGELOG.md; the version is
# chatcore.__version__). The wheel holds the four packages, chatcore.js, the Django migrations
# and the py.typed markers.
.PHONY: dist release-test
dist: venv
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The built wheel installed in a fresh venv, away from the source tree: the README example, the
# Starlette example under uvicorn, chatcore.js, the migrations, mypy (tests/release), ~10-20 s;
# `make test` runs it too (marker `release`).
release-test: venv
	$(BIN)/pytest -p no:hypothesispytest tests/release

# The Autobahn Testsuite's fuzzing client (cases 1-7, 9, 10) against the native adapter's echo
# route (docs/server.md); ~1-2 minutes, plus a minute the first time to make its Python 2.7
# virtualenv (pyenv's 2.7) in ~/.cache/chatcore-autobahn. The report: reports/autobahn/.
.PHONY: autobahn
autobahn: venv
	$(BIN)/python tests/autobahn/run.py
