# Developer entry points. `make test` installs what is missing and runs
# every check; pass pytest arguments with ARGS, e.g. make test ARGS="-k params".
BIN := .venv/bin
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help check test lint js bench demo chaos docs

help: ## Show this list
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

test: ## Install what is missing, then lint, type-check and run all tests
	scripts/test $(ARGS)

check: ## The fast loop: lint, types, the import layers, the docs and the tests that need no service
	@scripts/bootstrap
	$(MAKE) --no-print-directory lint
	TASK_API_TEST_DB=sqlite $(BIN)/python -m pytest -m "not services and not browser" -q $(ARGS)

lint: ## ruff, mypy, the import layers and the strict docs build only
	@scripts/bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy task_api
	$(BIN)/lint-imports --no-cache
	scripts/docs --check

docs: ## Build the documentation site and serve it with live reload (mkdocs serve)
	@scripts/bootstrap
	scripts/docs $(ARGS)

js: ## Build the JS client into task_api/static/task_api/
	@scripts/bootstrap --js
	cd static_src && npm run build

chaos: ## Three minutes of random database, Redis, worker and daphne faults under load
	@scripts/bootstrap
	CHAOS_SECONDS=$${CHAOS_SECONDS:-180} $(BIN)/python -m pytest tests/test_chaos.py -s $(ARGS)

bench: ## Run the benchmarks
	@scripts/bootstrap
	$(BIN)/python -m bench

demo: ## Start the demo project
	scripts/demo
