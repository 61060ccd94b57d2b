# From a fresh clone: `make demo` (the console on the bundled emulator) and `make test`.
# Each bootstraps .venv by itself.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime

.PHONY: demo test lint typecheck unit bench serve emulator clean

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "backup-bot needs Python 3.11 or newer: set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 1>&2

# The demo needs the runtime alone; the tests add the dev extras (linters, type checker, test tools).
$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . 1>&2
	@touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 1>&2
	@touch $@ $(RUNTIME)

demo: $(RUNTIME)
	@$(BIN)/backup-bot console --demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check bot handlers tests bench tools
	$(BIN)/lint-imports
	$(BIN)/python tools/private_names.py bot handlers
	$(BIN)/python tools/import_cycles.py bot handlers
	$(BIN)/python tools/slack_markup.py bot/domain bot/adapters/store
	$(BIN)/python tools/module_size.py bot handlers

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy bot/adapters/migrations/versions

# Most tests wait on sockets, subprocesses and clocks, so several processes share two cores well.
TEST_WORKERS ?= 4
unit: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# SOAK=1 adds the 30-minute soak (SOAK=10m another length); BENCH_POSTGRES_URL, a database to empty and seed
# for the history phase (skipped without it).
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(SOAK),--soak $(if $(filter 1,$(SOAK)),30m,$(SOAK)))

serve: $(RUNTIME)
	$(BIN)/backup-bot serve

emulator: $(RUNTIME)
	$(BIN)/backup-bot emulator

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
