# activitylog: `make demo` runs the whole path, `make test` the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint unit integration e2e browser bench schemas lock clean

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

# Debian's Chromium for the browser tests (tests/e2e drive /usr/bin/chromium with Playwright;
# Playwright's own browser download is never used). Idempotent and quiet.
# A small CJK font too, so screenshots of CJK customer names are legible.
browser:
	@command -v chromium >/dev/null 2>&1 && [ -d /usr/share/fonts/truetype/wqy ] || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install \
			-y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; }

e2e: venv browser
	$(BIN)/pytest tests/e2e -q

test: lint browser
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
