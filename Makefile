# Two commands do all the set-up on a fresh Debian machine with Python 3.11:
#   make serve   venv + install + demo database (when none is configured) + dashboards on :5006
#   make test    venv + install + chromium/postgresql (apt-get, when missing) + the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5006
DB_FILE := data/cqp.duckdb
PYTEST_ARGS ?=
# The release `make bench` measures this checkout against, in the same run: the last one
# before the cell-key secret (complementary suppression).
REFERENCE ?= 6974742
# The release before the dashboards' layers (#34), with the report of #35: what a session
# costs is measured against it (benchmarks/sessions.py).
SESSIONS_REFERENCE ?= 19110dc

.PHONY: install setup system-deps demo-db serve test lint docs notebooks screenshots bench bench-secret clean

# Python writes the bytecode of what a process imports, once, into the venv and the checkout
# (some machines set PYTHONDONTWRITEBYTECODE=1: every later process of the suite, servers, CLI
# and notebook kernels, would then compile panel, bokeh and pandas again); so pip needs not
# compile each of the ~100 installed packages beforehand (--no-compile: 47 → 27 s here, the
# modules nothing imports never compiled).
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -e ".[dashboards,test]"
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium (browser tests, the PDF report), postgresql (the PostgreSQL backend) and
# poppler-utils (pdftotext, to read the PDF report in the tests), when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "apt-get install$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

# The venv and the system packages side by side: on a fresh machine pip installs the venv
# while apt-get installs chromium, postgresql and poppler-utils where missing (by hand,
# chromium and poppler-utils missing: 53-66 s one after the other,
# 47-56 s side by side). Only here: `make clean test` must not clean while installing.
setup:
	@$(MAKE) --no-print-directory --jobs=2 install system-deps

# The demo database, only when no database is configured ($$CQP_DB) and none exists yet;
# an existing database made by an older release is upgraded in place.
demo-db: $(STAMP)
	@if [ -z "$$CQP_DB" ] && [ ! -f $(DB_FILE) ]; then $(BIN)/cqp-metrics demo; \
	else $(BIN)/cqp-metrics db upgrade; fi

serve: demo-db
	$(BIN)/python -m dashboards.check
	$(BIN)/panel serve dashboards/app.py --port $(PORT) --index app \
	  --allow-websocket-origin=localhost:$(PORT) --allow-websocket-origin=127.0.0.1:$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check cqp_metrics dashboards tests benchmarks notebooks/build_notebooks.py

# docs/indicators.md's definitions, regenerated from the registry (a test checks they follow it).
docs: $(STAMP)
	$(BIN)/python -m cqp_metrics.explain

# The notebooks, written from notebooks/build_notebooks.py and run on the demo database (their
# outputs are saved; charts as PNG images drawn by chromium).
notebooks: $(STAMP) system-deps
	$(BIN)/python notebooks/build_notebooks.py

# Each test file on one worker (--dist loadfile): a file's module fixtures (a served app, a
# demo database, a report) are made once, not once per worker (about 2 minutes less); the
# longest files first (tests/conftest.py's LONGEST_FIRST, kept by --no-loadscope-reorder).
test: setup
	@$(MAKE) --no-print-directory lint
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Screenshots of every page for the README, taken by the browser tests.
screenshots: $(STAMP) system-deps
	CQP_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/test_dashboards_browser.py \
	  -k every_page
	rm -f /tmp/cqp-report-demo.duckdb
	$(BIN)/cqp-metrics demo --db duckdb:////tmp/cqp-report-demo.duckdb
	$(BIN)/cqp-metrics report --branch 0016 --db duckdb:////tmp/cqp-report-demo.duckdb \
	  --output /tmp/cqp-rapport.pdf
	pdftoppm -png -r 70 -f 1 -l 2 /tmp/cqp-rapport.pdf docs/screenshots/rapport

# docs/benchmarks.md: each page's recompute at 100,000, 1,000,000 and 10,000,000 candidacies
# on DuckDB and 1,000,000 on SQLite and PostgreSQL (derived layer, raw tables, pandas), first
# page, sessions' memory, each database served (browser round trip, 50 sessions for 60 s, two
# servers on PostgreSQL), the growth plot; then loading 1,000,000 candidacies from files;
# then the secret's information loss; then this checkout against $(REFERENCE) at 1,000,000
# candidacies on DuckDB and PostgreSQL, in alternation; then what a session costs (first
# page, memory, 50 arrivals) against $(SESSIONS_REFERENCE). Takes a few hours.
bench: $(STAMP) system-deps bench-secret
	$(BIN)/python benchmarks/pages.py --candidacies 100000 1000000 10000000 \
	  --also sqlite postgresql --load \
	  --markdown docs/benchmarks.md --plot docs/benchmarks-growth.png
	$(BIN)/python benchmarks/load_million.py --markdown docs/benchmarks.md
	$(BIN)/python benchmarks/against.py --reference $(REFERENCE) --candidacies 1000000 \
	  --backends duckdb postgresql --markdown docs/benchmarks.md
	$(BIN)/python benchmarks/sessions.py --reference $(SESSIONS_REFERENCE) \
	  --markdown docs/benchmarks.md

# The secret's information loss beside tau-Argus (MOD, OPT), and the attacker across requests
# on the demo data: written into docs/secret.md.
bench-secret: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/secret_loss.py --markdown docs/secret.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find cqp_metrics dashboards tests benchmarks notebooks -name __pycache__ -type d -prune \
	  -exec rm -rf {} +
