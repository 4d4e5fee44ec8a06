# DreamSeed — every task a developer or CI runs. `make help` lists them.
# Needs only python3 (3.11+) and make: the first run installs uv into .tools/ and the locked
# environment into .venv/ (about 1.8 GB, cached by uv afterwards).

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
RUN    := $(UV) run --frozen
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install up down status migrate demo serve lint format typecheck imports check \
        test test-unit test-integration browser bench clean

help: ## Show this list
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

.venv/.synced: pyproject.toml uv.lock | $(UV)
	@# No --compile-bytecode: its workers failed now and then under load; Python writes .pyc on first import.
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced ## Install the locked environment into .venv

up: install ## Start/adopt PostgreSQL, Redis and the S3 server (SeaweedFS)
	$(RUN) dreamseed up

down: install ## Stop the local S3 server
	$(RUN) dreamseed down

status: install ## Show the local services
	$(RUN) dreamseed status

migrate: up ## Apply database migrations
	$(RUN) dreamseed migrate

demo: install ## Run the whole platform with a demo school (API, dashboards, Dagster UI)
	$(RUN) dreamseed demo

serve: migrate ## Serve the API only
	$(RUN) dreamseed serve

lint: install ## Ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: install ## mypy --strict (packages listed in pyproject [tool.mypy] files)
	$(RUN) mypy

imports: install ## Check the layering contracts (import-linter)
	$(RUN) lint-imports

check: lint typecheck imports ## All static checks

CHROMIUM ?= /usr/bin/chromium
browser: ## Install Debian's Chromium for the browser tests when it is missing (apt, as root)
	@test -x $(CHROMIUM) || (apt-get update && apt-get install -y chromium)

test: up check browser ## Run every test: static checks, unit, integration (real PostgreSQL, Redis, S3), e2e
	$(RUN) pytest tests --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no I/O)
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

test-integration: up browser ## Integration and e2e tests only
	$(RUN) pytest tests/integration tests/e2e $(PYTEST_ARGS)

BENCH ?= all
bench: up ## Benchmarks, e.g. `make bench BENCH="cat policy"` (see bench/README.md)
	$(RUN) python -m bench $(BENCH)

clean: ## Remove the environment and local state (stops the S3 server first)
	-$(RUN) dreamseed down
	rm -rf .venv .tools .dreamseed .pytest_cache .mypy_cache .ruff_cache
