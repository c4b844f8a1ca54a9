# activitylog: `make demo` runs the whole path, `make test` the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint unit integration e2e browser calc bench bench-scale chaos soak fuzz audit schemas lock clean

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

integration: venv calc
	$(BIN)/pytest tests/integration -q

# Debian's Chromium for the browser tests (tests/e2e drive /usr/bin/chromium with Playwright;
# Playwright's own browser download is never used). Idempotent and quiet.
# A small CJK font too, so screenshots of CJK customer names are legible.
browser:
	@command -v chromium >/dev/null 2>&1 && [ -d /usr/share/fonts/truetype/wqy ] || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install \
			-y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; }

# Debian's headless LibreOffice Calc, the second reader of the xlsx exports in the tests
# (`soffice --headless --convert-to csv`). Idempotent and quiet.
calc:
	@command -v soffice >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install \
			-y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null; }

e2e: venv browser
	$(BIN)/pytest tests/e2e -q

# Each phase prints how long it took, and pytest the 20 slowest tests: the CI budget
# (90 minutes) stays visible in every log. A phase that fails still prints its time.
TIMED = sh -c 'start=$$(date +%s); "$$@"; rc=$$?; \
	echo "make test: $$0 took $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc'
test: venv
	@$(TIMED) lint $(MAKE) --no-print-directory lint
	@$(TIMED) browser $(MAKE) --no-print-directory browser
	@$(TIMED) calc $(MAKE) --no-print-directory calc
	@$(TIMED) pytest $(BIN)/pytest -q --durations=20

bench: venv
	$(BIN)/python -m tests.bench

# The read side on a store of ROWS rows generated inside ClickHouse (skewed: one partner
# holds a tenth), timed over HTTP with the merges pending and after them, each figure beside
# its goal. Long at 100 million rows; not part of `make test` or `make bench`.
ROWS ?= 20000000
bench-scale: venv
	$(BIN)/python -m tests.bench.bench_scale --rows $(ROWS)

# Fault injection at full size (200,000 events, 10 kill -9, a broker restart, 30 s without
# store; then a 3-node cluster's brokers killed under a stream, and two of three at once;
# a smaller run of each is part of `make test`) and the 10-minute soak (not in CI). Both
# write their figures to docs/reliability.md.
chaos: venv
	$(BIN)/python -m tests.chaos
	$(BIN)/python -m tests.chaos.cluster

soak: venv
	$(BIN)/python -m tests.soak

# Fuzzing and tenant-isolation properties with FUZZ_SCALE times the examples `make test`
# runs (hypothesis, schemathesis on the OpenAPI document); figures in test-artifacts/fuzz/.
FUZZ_SCALE ?= 10
FUZZ_TESTS := tests/unit/test_fuzz_decode.py tests/unit/test_fuzz_csv.py \
	tests/integration/test_fuzz_csv_sql.py tests/integration/test_fuzz_api.py \
	tests/integration/test_tenant_isolation_properties.py tests/integration/test_api_key_secrecy.py
fuzz: venv
	rm -rf test-artifacts/fuzz
	ACTIVITYLOG_FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/pytest -q $(FUZZ_TESTS)
	@cat test-artifacts/fuzz/*.json

# pip-audit over constraints.txt; says SKIP (exit 0) when the vulnerability service is
# unreachable, fails only on a known vulnerability (ACTIVITYLOG_AUDIT_STRICT=1: fail on SKIP).
audit: venv
	$(BIN)/python -m tests.dependency_audit constraints.txt

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
