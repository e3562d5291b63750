# Metadata Admin: `make run` to try it, `make test` to test it. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve test lint format clean bench-search bench-seed bench-console bench-export bench-import bench-api bench-auth screenshots fuzz-api

BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/metadata_bench
BENCH_USERS ?= 1000000

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable '.[dev]'
	@touch $@ $(VENV)/.installed-run

# A local .env with a fresh secret; never committed. The real environment always wins.
.env:
	@$(PYTHON) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50)); print('AUDIT_CHAIN_KEY=' + secrets.token_urlsafe(50)); print('SIGNING_KEYS_SECRET=' + secrets.token_urlsafe(50)); print('DEBUG=True')" > $@
	@echo "Wrote .env with a new SECRET_KEY, AUDIT_CHAIN_KEY and SIGNING_KEYS_SECRET (DEBUG=True for local use)."

run: $(VENV)/.installed-run .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	@echo ""
	@echo "Sign in at http://127.0.0.1:8000/ with one of the demo staff accounts:"
	@cat .demo-accounts.txt 2>/dev/null || echo "  (no .demo-accounts.txt here; add one with: $(BIN)/python manage.py add_staff EMAIL --tenant acme --role owner)"
	@echo "Django admin (superusers only): $(BIN)/python manage.py createsuperuser, then http://127.0.0.1:8000/admin/"
	@echo "Background jobs (exports, imports, bulk edits, batch reverts) run on a worker started beside the server."
	@echo ""
	$(BIN)/python manage.py jobs_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# Production (README, "Production"), with the production environment set (a .env, if there
# is one, only fills in what it leaves unset). Waitress: slow clients cannot stall it
# (metadata_admin/serve.py says why).
# Run `manage.py migrate` before, and `manage.py jobs_worker` beside it.
serve: $(VENV)/.installed-run
	$(BIN)/python manage.py collectstatic --noinput -v0
	exec $(BIN)/python -m metadata_admin.serve

test: $(VENV)/.installed-dev .env
	$(BIN)/pytest

# schemathesis against /api/v2/openapi.json on a server of its own: no 5xx, no response
# that breaks the schema. Fixed seed; FUZZ_SEED=random FUZZ_EXAMPLES=100 explores further.
fuzz-api: $(VENV)/.installed-dev
	BIN=$(BIN) bash tests/api/fuzz.sh

lint: $(VENV)/.installed-dev .env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Loads BENCH_USERS users into BENCH_DATABASE_URL (once; set BENCH_FORCE=--force to reload),
# then runs the fixed search suite. Results: docs/benchmarks.md.
bench-search: $(VENV)/.installed-dev .env
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.load $(BENCH_USERS) $(BENCH_FORCE)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.search

# The console pages over the users bench-search loaded (run that first).
bench-console: $(VENV)/.installed-dev .env
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.console

# CSV export of all the users bench-search loaded: rows/s and peak RSS.
bench-export: $(VENV)/.installed-dev .env
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.export

# Imports 100,000 users as a job beside the users bench-search loaded: rows/s.
bench-import: $(VENV)/.installed-dev .env
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.imports

# The Management API under 32 concurrent clients (gunicorn, 4 workers) over those users.
bench-api: $(VENV)/.installed-dev .env
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.api

# Password sign-ins/s through POST /oauth/token (gunicorn, 4 workers, 16 clients) beside
# those users, and the password hash alone as the floor.
bench-auth: $(VENV)/.installed-dev .env
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m tests.bench.auth

# Seeds 100,000 demo users into a fresh SQLite database and prints how long it took.
bench-seed: $(VENV)/.installed-dev .env
	rm -f /tmp/metadata-admin-seed.sqlite3*
	DATABASE_URL=sqlite:////tmp/metadata-admin-seed.sqlite3 $(BIN)/python manage.py migrate -v0
	DATABASE_URL=sqlite:////tmp/metadata-admin-seed.sqlite3 $(BIN)/python manage.py seed_demo --tenant seed --plan enterprise --users 100000 --no-staff

# PNGs of the main pages into docs/screenshots/ (needs /usr/bin/chromium).
screenshots: $(VENV)/.installed-dev .env
	$(BIN)/python -m tests.browser.screenshots

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis staticfiles
