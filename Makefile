# Citizen service bot — the interface the project and its users rely on.
#   make run    set up what is missing, then start every local service (Ctrl-C stops all)
#   make test   set up what is missing, then run the whole test suite
SHELL := /bin/bash
APP_PY  := .venv-app/bin/python
RASA_PY := .venv-rasa/bin/python
export RASA_TELEMETRY_ENABLED := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup venvs venv-app venv-rasa db reseed run run-prod test test-fast lint train bench bench-prod clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup: venvs db ## Both virtualenvs, database migrated and seeded

venvs: ## Both virtualenvs (fast when nothing changed)
	@scripts/setup_venvs.sh all

venv-app:
	@scripts/setup_venvs.sh app

venv-rasa:
	@scripts/setup_venvs.sh rasa

db: venv-app ## Migrate the knowledge database and load the seed if it is empty
	@$(APP_PY) -m knowledge init-db

reseed: venv-app ## Re-import the seed content over the database (staff edits to seeded entries are overwritten)
	@$(APP_PY) -m knowledge import knowledge/seed/services knowledge/seed/centers.yml --actor seed

run: setup ## Start the local services (app server on 127.0.0.1:$${APP_PORT:-8000})
	@$(APP_PY) scripts/run_local.py

run-prod: venvs ## Production profile on this machine: PostgreSQL, Redis, nginx, 2 Rasa + 2 action servers
	@$(APP_PY) scripts/run_prod.py

test: venvs ## The whole test suite
	@$(APP_PY) -m pytest $(PYTEST_ARGS)

test-fast: venv-app ## Tests without slow and external-server ones
	@$(APP_PY) -m pytest -m "not slow and not postgres" $(PYTEST_ARGS)

lint: venv-app ## ruff, mypy and the import-linter contracts
	@$(APP_PY) -m ruff check .
	@$(APP_PY) -m mypy
	@.venv-app/bin/lint-imports

train: venv-rasa ## Train the Rasa model into models/ (skipped when nothing changed)
	@scripts/train.sh

bench: setup ## Benchmarks; reports are written to bench/REPORT*.md
	@$(APP_PY) -m bench.run_all

bench-prod: setup ## Load test of the production profile (locust via nginx) → bench/REPORT_prod.md
	@$(APP_PY) -m bench.load.run

clean: ## Remove virtualenvs, runtime state and trained models
	rm -rf .venv-app .venv-rasa var models .pytest_cache
