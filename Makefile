# activitylog: `make demo` runs the whole path, `make test` the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint unit integration bench schemas lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/activitylog demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m schemas.generate --check

unit: venv
	$(BIN)/pytest tests/unit -q

integration: venv
	$(BIN)/pytest tests/integration -q

test: lint
	$(BIN)/pytest -q

bench: venv
	$(BIN)/python -m tests.bench

schemas: venv
	$(BIN)/python -m schemas.generate

# Re-resolve the pinned versions (then commit constraints.txt).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^activitylog' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .activitylog exports .pytest_cache .mypy_cache .ruff_cache
