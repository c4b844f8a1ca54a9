"""The store `make bench-scale` reads: generated inside ClickHouse, skewed like a reseller portal.

    .venv/bin/python -m tests.bench.scale_store generate DIR ROWS SEED
    .venv/bin/python -m tests.bench.scale_store merge DIR
    .venv/bin/python -m tests.bench.scale_store survey DIR SAMPLES SEED

Each step runs in a process of its own (chDB allows one engine per process, and
`activitylog api` opens the same directory in between) and prints one JSON line.

The rows come from `INSERT INTO activity SELECT ... FROM numbers(...)`, no Python
row loop: every value is a hash of (seed, row number), so a seed gives the same
store every time. One partner holds a tenth of the rows and of the 200,000
customers, 2,000 other partners share the rest; every customer belongs to one
partner. Time runs with the row number over three years ending at generation
time, so each INSERT lands in a few months, as the worker's inserts do, and
merges are stopped while generating: the store starts with its parts unmerged.
Rows are shaped like the normalizer's (readable texts, details JSON, the
original payload of several hundred bytes); completed orders and subscription
actions name the customer's subscriptions, so the Subscriptions page has work.
A few rows are inserted a second time, byte for byte, as redeliveries are.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, Final

from common.store import Store
from processors.batch import INSERT_COLUMN_NAMES, WRITTEN_DIGEST
from processors.normalize import STORED_LANGUAGE
from producers.simulate.catalog import (
    BROWSER_AGENTS,
    CATALOG,
    CUSTOMER_NAMES,
    PARTNER_FIRST,
    PARTNER_LAST,
)
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.ddl import ROW_TABLES
from schemas.migrate import open_migrated
from schemas.stored_texts import stored_sql
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC

PARTNERS: Final = 2_000  # besides the big one
CUSTOMERS: Final = 200_000
BIG_SHARE: Final = 10  # one row (and one customer) in BIG_SHARE is the big partner's
HISTORY: Final = timedelta(days=3 * 365)
CHUNKS: Final = 8  # separate INSERT statements, at least
MAX_CHUNK_ROWS: Final = 2_000_000
DUPLICATE_EVERY: Final = 10_007  # one row in this many is inserted twice
SUBSCRIPTIONS_PER_CUSTOMER: Final = 5
# Rows the SELECT computes at a time: the row's many string intermediates stay in the CPU's
# caches (twice the rate of 100,000-row blocks, measured).
SELECT_BLOCK_ROWS: Final = 8_192
# Distinct customer names: a catalog name and a branch, so a name typed in the filter
# matches a handful of customers, not thousands.
BRANCHES: Final = (
    "Nord", "Süd", "Est", "Ouest", "Zentrum", "Centre", "Holding", "Services", "Group",
    "International", "Retail", "Logistics", "Digital", "Consulting", "Labs", "Studio",
    "Partners", "Solutions", "Trading", "Systems", "East", "West", "North", "South",
    "Alpha", "Beta", "Nova", "Prime", "Atlas", "Orion", "Vega", "Polaris", "Sirius",
    "Lyra", "Draco", "Aquila", "Cygnus", "Hydra", "Pavo", "Tucana",
)  # fmt: skip

# (action, rows per thousand, source, the readable phrase the normalizer writes)
ACTIONS: Final[tuple[tuple[str, int, str, str], ...]] = (
    ("order.placed", 150, "ordering-service", "Order placed"),
    ("order.completed", 140, "ordering-service", "Order completed"),
    ("order.failed", 10, "ordering-service", "Order failed"),
    ("order.cancelled", 5, "ordering-service", "Order cancelled"),
    ("subscription.create", 200, "billing", "Subscription created"),
    ("subscription.quantity_change", 150, "billing", "Subscription quantity changed"),
    ("subscription.suspend", 20, "billing", "Subscription suspended"),
    ("subscription.reactivate", 8, "billing", "Subscription reactivated"),
    ("subscription.cancel", 12, "billing", "Subscription cancelled"),
    ("customer.create", 40, "partner-center", "Customer created"),
    ("customer.update", 55, "partner-center", "Customer updated"),
    ("user.create", 45, "identity", "User created"),
    ("user.password_reset", 55, "identity", "User password reset"),
    ("user.role_change", 25, "identity", "User role changed"),
    ("user.delete", 10, "identity", "User deleted"),
    ("license.assign", 55, "partner-center", "License assigned"),
    ("license.remove", 20, "partner-center", "License removed"),
)

# Intermediate values, computed once per row from the row number (`number`).
_DRAWS: Final[dict[str, str]] = {
    "h0": "sipHash64({seed:UInt64}, number)",
    "h1": "sipHash64({seed:UInt64}, number, 1)",
    "h2": "sipHash64({seed:UInt64}, number, 2)",
    "h3": "sipHash64({seed:UInt64}, number, 3)",
    "cust": "if(h0 % {big_share:UInt64} = 0, h1 % {big_customers:UInt64}, "
    "{big_customers:UInt64} + h1 % ({customers:UInt64} - {big_customers:UInt64}))",
    "ptn": "if(cust < {big_customers:UInt64}, 0, 1 + (cust - {big_customers:UInt64}) "
    "% {partners:UInt64})",
    "ai": "arrayFirstIndex(x -> h2 % 1000 < x, {action_cum:Array(UInt32)})",
    "verb": "{actions:Array(String)}[ai]",
    "family": "splitByChar('.', verb)[1]",
    "sub_k": "intDiv(h2, 1000) % {subs:UInt64}",
    "pi": "1 + sipHash64({seed:UInt64}, 'product', cust, sub_k) % length({products:Array(String)})",
    "product": "{products:Array(String)}[pi]",
    "sku": "{skus:Array(String)}[pi]",
    "offer": "{offers:Array(String)}[pi]",
    "qty": "1 + intDiv(h2, 5000) % 40",
    "sub_id": "UUIDNumToString(sipHash128({seed:UInt64}, 'subscription', cust, sub_k))",
    "ord": "concat('ord-', substring(upper(leftPad(hex(sipHash64({seed:UInt64}, 'order', "
    "number)), 16, '0')), 1, 12))",
    "roll": "h3 % 1000",
    "outcome": "multiIf(family = 'order', splitByChar('.', verb)[2], roll < 960, 'succeeded', "
    "roll < 985, 'failed', 'in_progress')",
    "user_first": "{first_names:Array(String)}[1 + h3 % length({first_names:Array(String)})]",
    "user_last": "{last_names:Array(String)}[1 + intDiv(h3, 100) "
    "% length({last_names:Array(String)})]",
    "upn": "concat(user_first, '.', user_last, toString(intDiv(h2, 10) % 100), '@customer', "
    "toString(cust), '.example')",
    "user_id": "UUIDNumToString(sipHash128({seed:UInt64}, 'user', cust, intDiv(h2, 10) % 100))",
    "name_h": "sipHash64({seed:UInt64}, 'name', cust)",
    "at": "fromUnixTimestamp64Milli(toInt64({start_ms:Int64} + floor(number * {step_ms:Float64}) "
    "+ h3 % 60000), 'UTC')",
    "rtype": "if(family = 'order', 'order', family)",
    "p_id": "concat('ptn-', substring(lower(leftPad(hex(sipHash64({seed:UInt64}, 'partner', "
    "ptn)), 16, '0')), 1, 10))",
    "c_id": "UUIDNumToString(sipHash128({seed:UInt64}, 'customer', cust))",
    "c_name": "concat({names:Array(String)}[1 + name_h % length({names:Array(String)})], ' ', "
    "{branches:Array(String)}[1 + intDiv(name_h, 1000) % length({branches:Array(String)})])",
    "r_id": "multiIf(family = 'order', ord, family = 'subscription', sub_id, "
    "family = 'customer', c_id, family = 'user', user_id, sku)",
    "r_name": "multiIf(family = 'customer', c_name, family = 'user', upn, product)",
    "info_json": "multiIf("
    'family = \'order\', concat(\'{"currency":"EUR","line_items":[{"product_name":\', '
    'toJSONString(product), \',"quantity":\', toString(qty), \',"offer_id":"\', offer, '
    '\'","sku":"\', sku, \'","unit_price":"\', {prices:Array(String)}[pi], \'"\', '
    "if(outcome = 'completed', concat(',\"subscription_id\":\"', sub_id, '\"'), ''), "
    '\',"term":"P1Y","billing_cycle":"monthly"}]}\'), '
    'verb = \'subscription.create\', concat(\'{"order_id":"\', ord, \'","offer_id":"\', '
    'offer, \'","quantity":\', toString(qty), \',"term":"P1Y","billing_cycle":"annual"}\'), '
    "verb = 'subscription.quantity_change', concat('{\"old\":{\"quantity\":', toString(qty), "
    '\'},"new":{"quantity":\', toString(qty + 1 + h3 % 5), \'},"order_id":"\', ord, \'"}\'), '
    "family = 'subscription', '{\"reason\":\"requested by the customer\"}', "
    'family = \'customer\', concat(\'{"country":"DE","culture":"de-DE","currency":'
    '"EUR","domain":"customer\', toString(cust), \'.example"}\'), '
    'family = \'user\', concat(\'{"user":{"upn":"\', upn, \'","display_name":"\', '
    "initcap(user_first), ' ', initcap(user_last), '\",\"roles\":[]}}'), "
    'concat(\'{"user":"\', upn, \'","sku":"\', sku, \'","subscription_id":"\', sub_id, '
    "'\"}'))",
}

# The activity row, column by column, from the draws above.
_COLUMNS: Final[dict[str, str]] = {
    "partner_id": "p_id",
    "occurred_at": "at",
    "event_id": "UUIDNumToString(sipHash128({seed:UInt64}, 'event', number))",
    "kind": "if(family = 'order', 'order', 'partner_action')",
    "action": "verb",
    "customer_id": "c_id",
    "customer_name": "c_name",
    "partner_user": "concat({first_names:Array(String)}[1 + h0 "
    "% length({first_names:Array(String)})], '.', {last_names:Array(String)}[1 + intDiv(h0, 100) "
    "% length({last_names:Array(String)})], '@partner', toString(ptn), '.example')",
    "action_text": "concat({phrases:Array(String)}[ai], ': ', r_name)",
    "status": "outcome",
    "status_text": "if(family = 'order', concat('Order ', ord, ': ', outcome), "
    "concat(initcap(replaceAll(outcome, '_', ' ')), ' (', rtype, ' ', r_id, ')'))",
    "additional_info": "if(family = 'order', concat(toString(qty), ' × ', product, ' (', "
    "{prices:Array(String)}[pi], ' EUR, P1Y, monthly)'), replaceRegexpAll("
    "replaceAll(replaceAll(info_json, ',\"', '; \"'), '\":', '\": '), '[{}\"\\\\[\\\\]]', ''))",
    "resource_type": "rtype",
    "resource_id": "r_id",
    "resource_name": "r_name",
    "order_id": "if(family = 'order', ord, '')",
    "correlation_id": "UUIDNumToString(sipHash128({seed:UInt64}, 'correlation', number))",
    "source": "{sources:Array(String)}[ai]",
    "actor_ip": "if(h3 % 3 = 0, concat('203.0.113.', toString(1 + h3 % 254)), '')",
    "user_agent": "if(family = 'order', '', {agents:Array(String)}[1 + h0 % "
    "length({agents:Array(String)})])",
    "details": "info_json",
    "payload": 'concat(\'{"event_id":"\', event_id, \'","occurred_at":"\', '
    "replaceAll(toString(at), ' ', 'T'), 'Z\",\"partner_id\":\"', p_id, "
    '\'","partner_user":"\', partner_user, \'","customer_id":"\', c_id, '
    "'\",\"customer_name\":', toJSONString(c_name), ',', "
    'if(family = \'order\', concat(\'"order_id":"\', ord, \'","order_status":"\', outcome, '
    "'\",', substring(info_json, 2, length(info_json) - 2)), "
    'concat(\'"action":"\', verb, \'","resource_type":"\', rtype, \'","resource_id":"\', '
    'r_id, \'","resource_name":\', toJSONString(r_name), \',"outcome":"\', outcome, '
    '\'","details":\', info_json)), \',"correlation_id":"\', correlation_id, '
    '\'","source":"\', source, \'"}\')',
    "schema_version": "1",
    "kafka_topic": "if(family = 'order', {orders_topic:String}, {actions_topic:String})",
    "kafka_partition": "toInt32(h0 % 12)",
    "kafka_offset": "toInt64(number)",
    "ingested_at": "at + toIntervalMillisecond(200 + h3 % 5000)",
}


def generation_sql(block_rows: int) -> str:
    """One INSERT of the rows numbered [first, first + count) whose number is a multiple of
    `every` (1: all of them); the values are `generation_parameters`'.

    `block_rows` bounds the rows an inserted block (and so a part) holds, and the memory of
    the insert.
    """
    assert tuple(_COLUMNS) == ACTIVITY_COLUMN_NAMES
    draws = ",\n  ".join(f"{expr} AS {name}" for name, expr in _DRAWS.items())
    columns = ",\n  ".join(f"{expr} AS {name}" for name, expr in _COLUMNS.items())
    # The English texts as the worker writes them (the renderer's SQL, proved equal to it),
    # with their digest: exports read them as they read a worker's rows.
    english = stored_sql(STORED_LANGUAGE)
    rendered = ",\n ".join(
        [
            *(f"{english[c]} AS {c}" if c in english else c for c in ACTIVITY_COLUMN_NAMES),
            f"toUInt64({WRITTEN_DIGEST}) AS {INSERT_COLUMN_NAMES[-1]}",
        ]
    )
    block = int(block_rows)
    return (
        f"INSERT INTO {ACTIVITY_TABLE} ({', '.join(INSERT_COLUMN_NAMES)})\n"
        f"SELECT\n {rendered}\nFROM (\n"
        f"SELECT\n  {columns}\nFROM (\n SELECT\n  number,\n  {draws}\n"
        " FROM numbers({first:UInt64}, {count:UInt64})\n"
        " WHERE number % {every:UInt64} = 0\n))\n"
        f"SETTINGS max_block_size = {SELECT_BLOCK_ROWS}, min_insert_block_size_rows = {block}, "
        f"max_insert_block_size = {block}, min_insert_block_size_bytes = 0, max_memory_usage = 0"
    )


def generation_parameters(rows: int, seed: int, end: datetime) -> dict[str, Any]:
    """The values `generation_sql` binds, but for first, count and every."""
    start = end - HISTORY
    return {
        "seed": seed,
        "big_share": BIG_SHARE,
        "customers": CUSTOMERS,
        "big_customers": CUSTOMERS // BIG_SHARE,
        "partners": PARTNERS,
        "subs": SUBSCRIPTIONS_PER_CUSTOMER,
        "start_ms": int(start.timestamp() * 1000) - 60_000,
        "step_ms": HISTORY.total_seconds() * 1000 / max(rows, 1),
        "action_cum": list(accumulate(weight for _, weight, _, _ in ACTIONS)),
        "actions": [action for action, _, _, _ in ACTIONS],
        "sources": [source for _, _, source, _ in ACTIONS],
        "phrases": [phrase for _, _, _, phrase in ACTIONS],
        "products": [p.name for p in CATALOG],
        "skus": [p.sku for p in CATALOG],
        "offers": [p.offer_id for p in CATALOG],
        "prices": [p.prices["EUR"][1] for p in CATALOG],
        "names": [name for _, name in CUSTOMER_NAMES],
        "branches": list(BRANCHES),
        "first_names": list(PARTNER_FIRST),
        "last_names": list(PARTNER_LAST),
        "agents": list(BROWSER_AGENTS),
        "orders_topic": ORDERS_TOPIC,
        "actions_topic": PARTNER_ACTIONS_TOPIC,
    }


def chunks(rows: int) -> list[tuple[int, int]]:
    """(first, count) of each INSERT: at least CHUNKS of them, none over MAX_CHUNK_ROWS."""
    size = max(1, min(MAX_CHUNK_ROWS, -(-rows // CHUNKS)))
    return [(first, min(size, rows - first)) for first in range(0, rows, size)]


def block_rows(rows: int) -> int:
    """Rows per inserted block: several parts a month, as a store fed by many inserts has."""
    return max(100_000, min(rows // 400, 250_000))


# The bare chDB connection that started this process's engine, held while the process lives.
_ENGINE: list[Any] = []


def _open(path: Path) -> Store:
    """The store at `path` in an engine started with ClickHouse's own memory bounds.

    Generating and merging are not what is measured, and an insert of 250,000 rows or a
    month's merge needs more than the bounds `activitylog` gives the engine for serving.
    chDB runs one engine per process and takes its start-up options from the connection
    that starts it, so a bare connection opened first (and kept for the process's life)
    leaves the engine unbounded; `activitylog api` keeps its own defaults.
    """
    import chdb

    path.mkdir(parents=True, exist_ok=True)
    _ENGINE.append(chdb.connect(os.path.realpath(path)))  # type: ignore[no-untyped-call]
    return open_migrated(f"chdb://{path}")


def generate(path: Path, rows: int, seed: int) -> dict[str, Any]:
    """Create the store at `path` with `rows` rows plus the deliberate duplicates."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store = _open(path)
    store.command(f"SYSTEM STOP MERGES {ACTIVITY_TABLE}")
    sql = generation_sql(block_rows(rows))
    params = generation_parameters(rows, seed, end)
    started = time.perf_counter()
    done = 0
    for first, count in chunks(rows):
        store.command(sql, {**params, "first": first, "count": count, "every": 1})
        done += count
        took = time.perf_counter() - started
        print(f"  generated {done:,} / {rows:,} rows, {done / took:,.0f} rows/s", file=sys.stderr)
    store.command(sql, {**params, "first": 0, "count": rows, "every": DUPLICATE_EVERY})
    took = time.perf_counter() - started
    store.close()
    return {
        "rows": rows,
        "seed": seed,
        "end": end.isoformat(),
        "duplicates": -(-rows // DUPLICATE_EVERY),
        "generate_s": took,
        "merged": False,
    }


def merge(path: Path) -> dict[str, Any]:
    """Merge every partition of activity and its access paths down to one part (what
    background merges reach, eventually)."""
    store = _open(path)
    parts_before = _parts(store)[0]
    started = time.perf_counter()
    for table in ROW_TABLES:
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    took = time.perf_counter() - started
    store.close()
    return {"merge_s": took, "parts_before": parts_before}


def _parts(store: Store, table: str = ACTIVITY_TABLE) -> tuple[int, int, int]:
    """A table's active parts: how many, their rows, their bytes on disk (skip indexes too)."""
    parts, rows, disk = store.query_rows(
        "SELECT count(), sum(rows), sum(bytes_on_disk) FROM system.parts "
        "WHERE database = currentDatabase() AND table = {t:String} AND active",
        {"t": table},
    )[0]
    return int(parts), int(rows), int(disk)


def survey(path: Path, samples: int, seed: int) -> dict[str, Any]:
    """The store's parts and disk, its biggest partner, and what the reads will ask for:
    random event ids, customers and customer-name substrings of that partner."""
    store = _open(path)
    parts, rows, disk = _parts(store)
    disk_by_table = {table: _parts(store, table)[2] for table in ROW_TABLES}
    partner, partner_rows = store.query_rows(
        f"SELECT partner_id, count() FROM {ACTIVITY_TABLE} "  # noqa: S608
        "GROUP BY partner_id ORDER BY count() DESC LIMIT 1"
    )[0]
    picked = store.query_rows(
        f"SELECT event_id, customer_id, customer_name FROM {ACTIVITY_TABLE} "  # noqa: S608
        "WHERE partner_id = {p:String} AND sipHash64(event_id, {seed:UInt64}) % {m:UInt64} = 0 "
        "ORDER BY sipHash64(event_id, {seed:UInt64}) LIMIT {n:UInt64}",
        {
            "p": partner,
            "seed": seed,
            "m": max(1, int(partner_rows) // (samples * 20)),
            "n": samples,
        },
    )
    store.close()
    return {
        "parts": parts,
        "stored_rows": rows,
        "bytes_on_disk": disk,
        "bytes_on_disk_by_table": disk_by_table,
        "partner": str(partner),
        "partner_rows": int(partner_rows),
        "event_ids": [row[0] for row in picked],
        "customers": [row[1] for row in picked],
        "names": [name_fragment(row[2]) for row in picked],
    }


def name_fragment(name: str) -> str:
    """What a person types to find a customer: part of its name, in lower case."""
    words = name.split()
    return " ".join(words[1:] if len(words) > 2 else words).lower()


def main(argv: list[str]) -> None:
    step, path = argv[0], Path(argv[1])
    if step == "generate":
        result = generate(path, int(argv[2]), int(argv[3]))
    elif step == "merge":
        result = merge(path)
    elif step == "survey":
        result = survey(path, int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(f"unknown step {step!r}: generate, merge or survey")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
