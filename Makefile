# The two commands of the README's Quick start. Both are idempotent.
# Python 3.11 is what CI and the pins are tested with; any 3.11+ works.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# A second environment with the newest singer-sdk release or pre-release (`make test-newest-sdk`).
NEWEST := .venv-newest-sdk
# The Snowflake test's emulator, installed beside target-snowflake's virtualenv (not in .venv,
# whose duckdb it would replace): see tests/e2e/fakesnow_harness/README.md.
FAKESNOW_REQUIREMENTS := tests/e2e/fakesnow_harness/requirements.txt
# Meltano must not try the network: no Hub (plugins are declared in full), no telemetry.
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export MELTANO_CLI_DISABLE_VERSION_CHECK := true

.PHONY: quickstart test test-fast install reliability test-newest-sdk

install: $(VENV)/.installed

# Reinstall when the package or a plugin pin changes.
$(VENV)/.installed: pyproject.toml meltano.yml $(wildcard plugins/*/*.lock) $(FAKESNOW_REQUIREMENTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/meltano install
	$(BIN)/pip install --quiet --upgrade --no-deps --target .meltano/fakesnow -r $(FAKESNOW_REQUIREMENTS)
	touch $@

# The sandbox's last 30 days into output/warehouse.duckdb, dbt's models and tests on them
# (transform/), then a table of each vendor's last 7 days and output/perfreports_daily.png.
quickstart: install
	mkdir -p output
	$(BIN)/meltano run tap-perfreports target-duckdb dbt-duckdb:build
	$(BIN)/python scripts/warehouse_summary.py output/warehouse.duckdb
	$(BIN)/python scripts/plot_perfreports_daily.py output/warehouse.duckdb --out output/perfreports_daily.png

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy tap_perfreports
	$(BIN)/python scripts/sync_meltano_settings.py --check
	$(BIN)/python scripts/sync_readme_settings.py --check
	$(BIN)/pytest

# Everyday work: lint, types and the unit tests (parsers, planners, pacing, settings rules,
# architecture, the SDK's standard tests) without the slow ones, in well under 2 minutes.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/mypy tap_perfreports
	$(BIN)/pytest -m "unit and not slow"

# The reliability figures (issue 7): the fault matrix, kill-and-resume, secrets, bad config and
# fuzzing, ending in one table. `make test` runs these tests too.
reliability: install
	$(BIN)/pytest -m reliability

# The fast tests (all but end-to-end and reliability) on the newest singer-sdk release or
# pre-release, beside the pinned one: the tap must run on both. CI runs this after `test`.
test-newest-sdk: install
	test -x $(NEWEST)/bin/pip || $(PYTHON) -m venv --clear $(NEWEST)
	$(NEWEST)/bin/pip install --quiet --upgrade pip
	$(NEWEST)/bin/pip install --quiet -e '.[dev]'
	# pip warns that the project pins another singer-sdk: that is the point.
	$(NEWEST)/bin/pip install --quiet --pre --upgrade 'singer-sdk[msgspec]'
	$(NEWEST)/bin/python -c 'import importlib.metadata as m; print("singer-sdk", m.version("singer-sdk"))'
	$(NEWEST)/bin/pytest -m "not e2e and not reliability"
