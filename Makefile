# The two commands: `make run` (the app) and `make test` (everything CI checks).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run run-headless test lint typecheck bench soak binary icons catalogues clean venv

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamp files re-install only when pyproject.toml changes.
$(VENV)/.run-deps: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e ".[desktop]"
	-$(BIN)/pip install -q -e ".[gtk]" || echo "note: PyGObject did not build; the tray menu needs GTK (see README)"
	@touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/activate
	bash scripts/system-deps.sh
	$(BIN)/pip install -q -e ".[desktop,dev,gtk]"
	@touch $@

venv: $(VENV)/.test-deps

## Run the tray app where there is a display, else the headless gateway (demo provider if unconfigured).
run: $(VENV)/.run-deps
	$(BIN)/aoa

run-headless: $(VENV)/.run-deps
	$(BIN)/aoa-proxy

## Lint, type-check and run the whole test suite (installs system test tools when run as root).
test: $(VENV)/.test-deps
	bash scripts/test.sh

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

## One-file dist/aoa with PyInstaller (the test suite builds and checks one too).
binary: $(VENV)/.test-deps
	bash scripts/build_binary.sh

## Regenerate assets/ and aoa_desktop/assets/ from assets/aoa.png.
icons: $(VENV)/.test-deps
	$(BIN)/python scripts/make_icons.py

## Re-extract user-visible strings into the .pot/.po, then compile the .mo catalogues.
catalogues: $(VENV)/.test-deps
	$(BIN)/python scripts/extract_messages.py
	$(BIN)/python scripts/compile_catalogues.py

## The benchmark table in docs/performance.md (a few minutes).
bench: $(VENV)/.test-deps
	$(BIN)/python -m bench

## The long soak (issue 8): 120k mixed requests through a real gateway process, ~3 minutes.
soak: $(VENV)/.test-deps
	AOA_SOAK=long $(BIN)/python -m pytest -q tests/reliability/test_rel_soak.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build/out dist
