# Coins: `make run` to try it, `make test` to check it. `make help` lists every target.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# Two workers for two cores; each gets its own PostgreSQL database (<name>_gw0, _gw1).
TEST_WORKERS ?= 2
export COINS_DATABASE_URL ?= sqlite:///var/coins.sqlite3

.DEFAULT_GOAL := help
.PHONY: help install chromium bench run serve migrate seed test test-sqlite lint format schema schema-check contract-check verify clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP) ## Create .venv and install the app with its test tools

migrate: install ## Create or upgrade the database (SQLite under var/ unless COINS_DATABASE_URL says otherwise)
	$(BIN)/coins migrate

seed: migrate ## Add the demo users (and catalog) to the database
	$(BIN)/coins seed

run: seed ## Set everything up and serve the API with GraphiQL on http://$(HOST):$(PORT)/graphql
	@echo "GraphiQL: http://$(HOST):$(PORT)/graphql   token: $(BIN)/coins token viewer"
	$(BIN)/coins serve --host $(HOST) --port $(PORT)

serve: install ## Serve without migrating or seeding
	$(BIN)/coins serve --host $(HOST) --port $(PORT)

chromium: ## Install Debian's chromium for the browser tests (never `playwright install`)
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: browser tests will skip (fail under CI=true)"; }

test: install chromium ## Run every test, on SQLite and (when COINS_TEST_POSTGRES_URL is set) PostgreSQL
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/coins export-schema --check
	$(BIN)/pytest -n $(TEST_WORKERS)

test-sqlite: install ## Run the tests on SQLite only
	COINS_TEST_POSTGRES_URL= CI= $(BIN)/pytest

bench: install ## Benchmark the gift path on PostgreSQL, a few minutes (own database: BENCH_POSTGRES_URL)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: install ## Write schema.graphql from the code
	$(BIN)/coins export-schema

schema-check: install ## Fail when schema.graphql is out of date
	$(BIN)/coins export-schema --check

contract-check: install ## Check schema.graphql against ../shared/contract.graphql
	$(BIN)/python ../shared/tools/contract_check.py schema.graphql

verify: install ## Check every ledger invariant of the configured database
	$(BIN)/coins ledger verify

clean: ## Remove the virtualenv, the local database and caches
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
