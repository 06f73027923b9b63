# Two commands matter on a fresh machine: `make demo` (set up, then run the main job on the
# embedded defaults) and `make test` (set up, then lint, type-check and run the tests).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev demo test lint typecheck pytest services-start services-stop clean inspect-venv

$(STAMP): constraints.txt agent_contracts/pyproject.toml agent_tasks/pyproject.toml agent_harness/pyproject.toml agent_eval/pyproject.toml
	@echo "==> creating $(VENV) and installing the four packages (first time: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e ./agent_contracts -e ./agent_tasks -e "./agent_harness[test,ray]" -e "./agent_eval[dev]"
	@touch $(STAMP)

dev: $(STAMP) ## venv + editable installs of the four packages
	@echo "development environment ready: source $(VENV)/bin/activate"

demo: $(STAMP) ## the main job on the embedded defaults (no GPU, no external database)
	$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check agent_contracts agent_tasks agent_harness agent_eval agents tests scripts benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest ## everything CI runs

# inspect_ai, for the test that reads an exported log back with Inspect's own reader: a venv of
# its own, since inspect_ai pins fsspec below the project's constraint.
INSPECT_AI_VERSION ?= 0.3.285
inspect-venv: ## .venv-inspect with the pinned inspect_ai (the Inspect export test uses it)
	$(PYTHON) -m venv .venv-inspect
	.venv-inspect/bin/pip install --quiet --disable-pip-version-check "inspect-ai==$(INSPECT_AI_VERSION)"

services-start: ## start a local Docker engine (network-safe) for the docker tests
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

clean:
	rm -rf $(VENV) .venv-inspect .pytest_cache .mypy_cache .ruff_cache
