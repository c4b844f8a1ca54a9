"""Security review as tests: SQL is never built from input, keys compare in constant time, limits.

1. String-built SQL: every f-string, `%`, `+` or `.format` whose text holds
   SQL keywords, in producers/ processors/ query/ activitylog/ schemas/, may
   only interpolate expressions on the allowlist below, each of which comes
   from code constants (table names, column lists, settings validated at the
   edge) or from clauses that are themselves built only of placeholders.
   Values always travel as `{name:Type}` parameters. A new interpolation
   fails this test naming file:line and the expression: review it, then
   either pass it as a parameter or add it here with the reason it is safe.
2. API keys: compared with `hmac.compare_digest` against every configured
   key (no early exit, no dict lookup by the presented key).
3. Limits: a long query string, a large body and a long direct-download
   range answer the JSON error naming the limit and its setting.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.api_keys import KeyMatch, KeyRing, key_entries
from common.errors import BadQuery
from common.settings import Settings
from query.http import auth
from query.http.limits import ApiLimits, RequestLimits, check_export_range
from query.http.openapi import error_codes, error_responses
from query.ranges import TimeRange
from tests.dependency_audit import parse_report, verdict

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("producers", "processors", "query", "activitylog", "common", "schemas")
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT INTO|ALTER TABLE|CREATE|DROP|DELETE|UPDATE|WHERE|FROM|TRUNCATE|"
    r"OPTIMIZE|SYSTEM|ORDER BY|LIMIT|SETTINGS|FINAL|AND|OR)\b"
)
# Expression (as `ast.unparse` writes it) -> why it cannot carry user input.
ALLOWED: dict[str, str] = {
    "ACTIVITY_TABLE": "table name constant (schemas.activity)",
    "MIGRATIONS_TABLE": "table name constant",
    "MANIFESTS_TABLE": "table name constant",
    "JOBS_TABLE": "table name constant",
    "SCHEDULES_TABLE": "table name constant",
    "DESTINATIONS_TABLE": "table name constant (schemas.tables)",
    "', '.join(DESTINATION_COLUMNS)": "column constants (destinations table)",
    "EMBEDDED_DATABASE": "database name constant",
    "table": "schemas.ddl: a table name from data_table(), constants",
    "local": "schemas.ddl: the local table name, constants",
    "cluster": "ACTIVITYLOG_CLICKHOUSE_CLUSTER, checked as a plain identifier in settings",
    "on_cluster": "built from the checked cluster name",
    "body": "schemas.ddl: DDL text of the shipped migrations",
    "statement[altered.end():]": "schemas.ddl: the rest of a shipped migration statement",
    "SHARDING_KEY": "constant",
    "int(days)": "retention days, an int validated by settings",
    "where": "a WHERE clause built by ActivityFilter.where()/export_slices: placeholders only",
    "where + ' AND '": "same, joined to a placeholder-only clause",
    "_AFTER_KEY": "placeholder-only key comparison constant",
    "_UPTO_KEY": "placeholder-only key comparison constant",
    "select": "a SELECT list built from column constants (csv_select, export_query)",
    "columns": "a SELECT list built from column constants",
    "column": "a column name from a constant tuple",
    "order": "ORDER BY list from the EXPORT_ORDER constant",
    "sql": "a query string built in the same function from constants and placeholders",
    "select_list(LIST_COLUMNS)": "column constants",
    "select_list(DETAIL_COLUMNS)": "column constants",
    "select_list(EXPORT_ORDER)": "column constants",
    "', '.join(EXPORT_ORDER)": "column constants",
    "', '.join((*settings, STREAM_SETTINGS))": "SETTINGS clauses: constants (export_query)",
    "', '.join(_COLUMNS)": "column constants (export jobs table)",
    "', '.join(STEP_COLUMNS)": "column constants (lifecycle)",
    "_LATEST": "a constant clause (export jobs)",
    "CSV_SETTINGS": "constant SETTINGS clause",
    "STREAM_SETTINGS": "constant SETTINGS clause",
    "_PREFIXES_SQL": "constant string literal of the formula prefixes",
    "window": "an int computed from the validated limit (1..1000)",
    "wanted": "an int computed from the validated limit (1..1000)",
    "int(rows) - 1": "an int (slice size), forced by int()",
    "MAX_STEPS + 1": "an int constant",
    "BY_EVENT_TABLE": "table name constant (schemas.tables)",
    "BY_CUSTOMER_TABLE": "table name constant (schemas.tables)",
    "RECORDS_TABLE": "table name constant (schemas.tables)",
    "BY_CORRELATION_TABLE": "table name constant (schemas.tables)",
    "keys": "FROM ... WHERE of the lifecycle's keys: a table constant and placeholders",
    "prewhere": "ActivityFilter.key_where(): sort-key conditions, placeholders only",
    "condition": "PREWHERE/WHERE clause built in export_query from placeholder-only clauses",
    "flt.key_where()": "ActivityFilter.key_where(): sort-key conditions, placeholders only",
    "SHARD_LOCAL_IN": "a constant SETTINGS clause (query.reads.scope)",
    "_KEY": "the activity sort key's column names, a constant (query.reads.lifecycle)",
    "view_name": "schemas.ddl: a view name from a shipped migration",
    "_local(target)": "schemas.ddl: a table name from a shipped migration, plus a constant suffix",
    "view_source": "schemas.ddl: a shipped view's SELECT, its table renamed by a constant",
    "target": "schemas.migrate: a view's target table name from a shipped migration",
    "view_select": "schemas.migrate: a shipped migration's view SELECT",
    "', '.join(_STEP_READ)": "column constants (lifecycle, with the readable sources)",
    "first": "csv.neutralize_sql: a column constant, or a readable_sql expression and its alias",
    "DETAILS": "readable_sql: the constant column reference activity.details",
    "value": "readable_sql: an expression built from constants and lit()-escaped catalog text",
    "currency": "readable_sql: an expression built from constants (the order's currency)",
    "_DECIMAL_RE": "readable_sql: a constant regular expression literal",
    "_amount('li_price', currency, lang)": "readable_sql: constants, lit()-escaped CLDR data",
    "details": "readable_sql: the details column reference, a constant (DETAILS, STORED_DETAILS)",
    "key": "ActivityFilter.key_where(): sort-key conditions, placeholders only",
    "digest_column(lang)": "stored_texts: a column name from a constant and a catalog folder",
    "digest": "stored_texts: digest_column() of a supported language",
    "DIGEST_PARAM": "query.exports.texts: the digest parameter's name, a constant",
    "stale_guard(lang)": "query.exports.texts: a constant column compared to a placeholder",
    "_local(table)": "schemas.ddl: a table name from a shipped migration, plus a constant suffix",
    "clauses": "schemas.ddl/stored_texts/rerender: shipped DDL, or generated from constants",
    "_SYNC": "schemas.rerender: a constant SETTINGS clause",
    "sets": "schemas.rerender: stored-text columns = readable_sql expressions (constants)",
    "partition": "schemas.rerender: IN PARTITION ID of an int() month",
    "NAMES_TABLE": "table name constant (schemas.tables)",
    "' AND '.join(clauses)": "query.reads.names: placeholder-only conditions, joined",
    "MAX_NAMED_CUSTOMERS + 1": "an int constant",
    "NAMED_IDS_PARAM": "query.reads.names: the ids parameter's name, a constant",
    "int(window)": "an int computed from the validated limit (1..1000), forced by int()",
    "int(limit)": "the validated page limit plus one (2..1001), forced by int()",
    "NAMED_EVENTS_PARAM": "query.reads.names: the event ids parameter's name, a constant",
}


def _constant_text(node: ast.AST) -> str:
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _interpolated(node: ast.AST) -> list[ast.expr] | None:
    """The expressions a string-building node interpolates, or None if it builds no string."""
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return [
            x for x in (node.left, node.right) if not isinstance(x, ast.Constant | ast.JoinedStr)
        ]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return [*node.args, *(k.value for k in node.keywords)]
    return None


def string_built_sql() -> list[tuple[str, int, str]]:
    """(file, line, expression) for every expression interpolated into SQL-looking text."""
    found: list[tuple[str, int, str]] = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                exprs = _interpolated(node)
                if exprs and SQL_WORDS.search(_constant_text(node)):
                    rel = str(path.relative_to(ROOT))
                    found += [(rel, node.lineno, ast.unparse(e)) for e in exprs]
    return found


def test_sql_is_never_built_from_anything_but_constants() -> None:
    found = string_built_sql()
    assert len(found) > 20, "the scan found too little: is it still looking at the code?"
    unknown = [f"{file}:{line}: {expr}" for file, line, expr in found if expr not in ALLOWED]
    assert not unknown, (
        "string-built SQL with an expression not on the allowlist (pass it as a "
        "{name:Type} parameter, or add it to ALLOWED with the reason it is a constant):\n"
        + "\n".join(unknown)
    )


def test_the_scan_catches_a_value_formatted_into_sql(tmp_path: Path) -> None:
    """The detector itself: user text in an f-string, `%`, `+` or `.format` is reported."""
    source = (
        "def bad(store, name):\n"
        "    store.query(f\"SELECT * FROM activity WHERE customer_name = '{name}'\")\n"
        "    store.query(\"SELECT * FROM activity WHERE x = '%s'\" % name)\n"
        '    store.query("SELECT * FROM activity WHERE x = \'" + name + "\'")\n'
        "    store.query(\"SELECT * FROM activity WHERE x = '{}'\".format(name))\n"
    )
    tree = ast.parse(source)
    hits = [
        ast.unparse(e)
        for node in ast.walk(tree)
        if (exprs := _interpolated(node)) and SQL_WORDS.search(_constant_text(node))
        for e in exprs
    ]
    assert hits.count("name") >= 4 and "name" not in ALLOWED


def test_api_keys_are_compared_in_constant_time_against_every_key() -> None:
    source = textwrap.dedent(inspect.getsource(KeyRing.match))
    tree = ast.parse(source)
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "hmac.compare_digest" in calls
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For)]
    assert loops and not any(isinstance(n, ast.Return | ast.Break) for n in ast.walk(loops[0]))
    ring = KeyRing(key_entries({"alpha-key": "p1", "bob:bravo-key": "p2"}), b"secret")
    assert ring.match("bravo-key") == KeyMatch("bob", "p2")
    assert ring.match("bravo-ke") is None and ring.match("") is None
    assert "match" in inspect.getsource(auth.authenticate)  # the route's check goes through it
    # No other code looks a presented key up by value (a dict lookup is not constant time).
    for folder in ("query", "activitylog", "common"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"api_keys\s*(\[|\.get\()|\bin\s+api_keys\b", text), path


def test_api_keys_never_reach_a_log_call() -> None:
    """No logging call in the API or the settings formats a key variable."""
    for path in (ROOT / "query").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("debug", "info", "warning", "error", "exception")
            ):
                args = " ".join(ast.unparse(a) for a in node.args)
                assert not re.search(r"\b(key|presented|api_keys?|authorization)\b", args), (
                    f"{path.relative_to(ROOT)}:{node.lineno}: {args}"
                )


def test_settings_carry_the_limits() -> None:
    settings = Settings.from_env(
        {
            "ACTIVITYLOG_API_MAX_BODY_BYTES": "2048",
            "ACTIVITYLOG_API_MAX_QUERY_BYTES": "512",
            "ACTIVITYLOG_EXPORT_MAX_DAYS": "31",
        }
    )
    assert ApiLimits.from_settings(settings) == ApiLimits(2048, 512, 31)
    assert ApiLimits.from_settings(Settings()) == ApiLimits(64 * 1024, 8 * 1024, 1096)


def test_a_long_direct_download_range_is_refused_naming_the_limit() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    check_export_range(TimeRange(start, start + timedelta(days=31), "UTC"), 31)
    with pytest.raises(BadQuery) as refused:
        check_export_range(TimeRange(start, start + timedelta(days=32), "UTC"), 31)
    assert refused.value.param == "to"
    assert (
        "31 days" in refused.value.reason and "ACTIVITYLOG_EXPORT_MAX_DAYS" in refused.value.reason
    )


def _run_limits(scope: dict[str, Any], chunks: list[bytes]) -> tuple[int, bytes, bytes]:
    """Drive the middleware with `chunks` as the body; returns (status, body, what the app read)."""
    sent: list[dict[str, Any]] = []
    seen: list[bytes] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits = RequestLimits(
        app, ApiLimits(max_body_bytes=1024, max_query_bytes=256, export_max_days=31)
    )
    asyncio.run(limits({"type": "http", "headers": [], **scope}, receive, send))
    return sent[0]["status"], sent[1]["body"], b"".join(seen)


def test_request_limits_answer_json_naming_the_setting() -> None:
    status, body, _ = _run_limits({"query_string": b"q=" + b"x" * 300}, [b""])
    assert status == 414 and b"ACTIVITYLOG_API_MAX_QUERY_BYTES" in body
    status, body, _ = _run_limits({"headers": [(b"content-length", b"5000")]}, [b""])
    assert status == 413 and b"ACTIVITYLOG_API_MAX_BODY_BYTES" in body
    # A chunked body without a length is cut off at the limit, not buffered whole.
    status, body, seen = _run_limits({}, [b"x" * 600, b"x" * 600, b"x" * 600])
    assert status == 413 and seen == b""
    status, body, seen = _run_limits({"query_string": b"q=ok"}, [b"{}", b"[]"])
    assert (status, body, seen) == (200, b"ok", b"{}[]")


def test_openapi_error_codes_follow_the_operation_shape() -> None:
    listed = error_codes("/api/v1/activity", "get", {"parameters": [{"in": "query"}]})
    assert listed == [400, 401, 414, 500, 503]
    detail = error_codes("/api/v1/activity/{id}", "get", {"parameters": [{"in": "path"}]})
    assert 404 in detail and 414 not in detail
    assert 413 in error_codes("/api/v1/exports", "post", {})
    assert error_codes("/healthz", "get", {}) == [500]
    declared = error_responses(409, 429)
    assert set(declared) == {409, 429}
    assert declared[429]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_the_dependency_audit_tells_unaudited_from_clean() -> None:
    """pip-audit exits 0 when it audited nothing; the wrapper says SKIP, OK or FAIL instead."""
    unreachable = {"dependencies": [{"name": "six", "skip_reason": "Dependency not found"}]}
    code, line = verdict(parse_report(unreachable), "", strict=False)
    assert code == 0 and line.startswith("SKIP") and "1 packages unaudited" in line
    assert verdict(parse_report(unreachable), "", strict=True)[0] == 2
    assert verdict(None, "pip-audit is not installed", strict=False)[1].startswith("SKIP")
    clean = {"dependencies": [{"name": "six", "version": "1.17.0", "vulns": []}]}
    assert verdict(parse_report(clean), "", strict=False) == (
        0,
        "OK: 1 pinned packages audited, no known vulnerability",
    )
    vulnerable = {
        "dependencies": [
            {
                "name": "h11",
                "version": "0.14.0",
                "vulns": [{"id": "GHSA-x", "aliases": ["CVE-1"], "fix_versions": ["0.16.0"]}],
            }
        ]
    }
    code, line = verdict(parse_report(vulnerable), "", strict=False)
    assert code == 1 and "h11 0.14.0: GHSA-x / CVE-1 (fixed in: 0.16.0)" in line
