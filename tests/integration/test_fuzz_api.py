"""Schemathesis against the API's own OpenAPI document: no 5xx, every response as declared.

The real app (in-process ASGI) over a real chDB store seeded with two
partners' rows (accents, quotes, newlines, formulas). Schemathesis reads
`/openapi.json` and generates requests for every operation it declares, so
routes added later (export jobs, manifests) are fuzzed without a change
here. Requests rotate through a partner key (twice as often), another partner's
key, an all-partners key, no key and an unknown key; half the examples get
well-formed values for the parameters that have them (dates, formats, ids
that exist), so the successful paths are fuzzed as well as the refusals.
Each response must: not be a 5xx; have a status, content type, headers and
body the document declares (errors: `{"error": {"code", "message"}}`, see
`query/http/openapi.py`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.failures import FailureGroup

from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from query.jobs.runner import ExportJobRunner
from query.manifests.ledger import ExportLedger
from schemas.migrate import open_migrated
from tests.fixtures.activity import KEYS, NOW, dataset, insert
from tests.fuzz import Tally, fuzz_settings, scale

AUTH: tuple[dict[str, str], ...] = (
    {"Authorization": "Bearer key-a"},
    {"Authorization": "Bearer key-a"},
    {"X-API-Key": "key-b"},
    {"Authorization": "Bearer key-admin"},
    {},
    {"Authorization": "Bearer not-a-key"},
)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 100
WELL_FORMED: dict[str, list[Any]] = {
    "from": ["2026-11-01", "2026-10-15T00:00:00Z", "2026-11-15T10:05:00+01:00"],
    "to": ["2026-11-30", "2026-11-20T12:00:00Z"],
    "tz": ["UTC", "Europe/Paris", "America/Los_Angeles"],
    "format": ["csv", "parquet", "jsonl", "xlsx", "csv-fr"],
    "lang": ["en", "fr"],
    "limit": [1, 3, 1000],
    "customer": ["café", "contoso", "=HYPERLINK"],
    "customer_id": ["cust-cafe", "cust-b", "cust-bulk"],
    "action": ["subscription", "order", "user.password_reset"],
}
KNOWN_IDS: dict[str, list[str]] = {
    "event_id": [event["event_id"] for _, event in dataset()[:6]],
    "customer_id": ["cust-cafe", "cust-b", "cust-formula"],
}
TALLY = Tally("api_schemathesis")
_auth = itertools.cycle(AUTH)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app's OpenAPI document, loaded by schemathesis from the running ASGI app."""
    root: Path = tmp_path_factory.mktemp("fuzz-api")
    store = open_migrated(f"chdb://{root / 'ch'}")
    insert(store, dataset())
    settings = Settings(state_dir=root / "state", api_keys=KEYS)
    # A real job runner (as `activitylog serve` has), so job routes are fuzzed for real.
    # Jobs read through a store of their own, which they close when done (as in `serve`).
    ledger = ExportLedger(store, settings)  # one per process, shared by downloads and jobs
    jobs = ExportJobRunner(
        settings,
        store,
        ledger=ledger,
        open_reader=lambda: Store.open(f"chdb://{root / 'ch'}"),
    )
    jobs.start()
    app = create_api(store, settings, now=lambda: NOW, jobs=jobs, ledger=ledger)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        jobs.stop()
        store.close()


def _call_and_check(case: Any) -> None:
    response = case.call(headers=next(_auth))
    TALLY.add("requests")
    TALLY.add(f"status_{response.status_code}")
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup:
        TALLY.add("failures")
        raise


def test_every_operation_answers_as_declared_and_never_5xx(api_schema: Any) -> None:
    """Each operation of the document, in turn, with its own hypothesis run.

    Driven from a plain test (not schemathesis' pytest plugin, which does not
    load under pytest 9): one hypothesis run per operation, so a failure names it.
    """
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6  # every route of docs/contracts.md at least
    for operation in operations:
        TALLY.add(f"operation {operation.method.upper()} {operation.path}")
        _fuzz_operation(operation)


def _fuzz_operation(operation: Any) -> None:
    """One hypothesis run over one operation's generated requests."""
    declared = {parameter.name for parameter in operation.query}

    @fuzz_settings(EXAMPLES_PER_OPERATION)
    @given(case=operation.as_strategy(), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        # Half the time, well-formed values for the parameters that have them, so
        # the happy paths (200s: pages, files, jobs) are fuzzed too, not only 400s.
        if data.draw(st.booleans()):
            query = case.query if isinstance(case.query, dict) else {}
            for name in declared & WELL_FORMED.keys():
                if name in ("from", "to") or data.draw(st.booleans()):
                    query[name] = data.draw(st.sampled_from(WELL_FORMED[name]))
            case.query = query
            for name in ("event_id", "customer_id"):
                if isinstance(case.path_parameters, dict) and name in case.path_parameters:
                    case.path_parameters[name] = data.draw(st.sampled_from(KNOWN_IDS[name]))
        _call_and_check(case)

    run()


def test_the_document_declares_the_json_error_and_never_422(api_schema: Any) -> None:
    """FastAPI's 422 is gone (this API answers 400); every error names the Error body."""
    document = api_schema.raw_schema
    assert "Error" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            assert "500" in responses, (method, path)
            if path.startswith("/api/"):
                assert {"401", "503"} <= responses.keys(), (method, path)


def test_zz_write_api_fuzz_figures() -> None:
    """Record how many requests schemathesis made (runs last in the module)."""
    figures = TALLY.write(examples_per_operation=EXAMPLES_PER_OPERATION * scale())
    assert figures.get("requests", 0) > 0
    assert figures.get("failures", 0) == 0
