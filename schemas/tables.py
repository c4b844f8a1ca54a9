"""Names of the store's tables besides `activity` (whose columns `schemas/activity.py` defines).

The DDL that creates them is in `schemas/migrations/`; code that reads or writes
them takes the names from here.
"""

from __future__ import annotations

from typing import Final

# Which migrations a store has had (`schemas/migrate.py`).
MIGRATIONS_TABLE: Final = "schema_migrations"
# Every sealed export manifest, chained per partner (`query/manifests/ledger.py`).
MANIFESTS_TABLE: Final = "export_manifests"
# Export jobs' states, one row per change (`query/jobs/`).
JOBS_TABLE: Final = "export_jobs"
# Scheduled exports, one row per change (`query/jobs/schedules.py`).
SCHEDULES_TABLE: Final = "export_schedules"
# Access paths fed from activity by materialized views (schemas/migrations/0004_access_paths.sql):
# one event's activity key, and a customer's history (`query/reads/`).
BY_EVENT_TABLE: Final = "activity_by_event"
BY_CUSTOMER_TABLE: Final = "activity_by_customer"
# The expanded row by event id: every activity column, in small granules
# (schemas/migrations/0009_records_by_event.sql, `query/reads/records.py`).
RECORDS_TABLE: Final = "activity_records"
# The keys of a partner's events by correlation id: a record's lifecycle (same migration).
BY_CORRELATION_TABLE: Final = "activity_by_correlation"
# Each partner's customers by name: the page's customer-name filter
# (schemas/migrations/0010_customer_names.sql, `query/reads/names.py`).
NAMES_TABLE: Final = "activity_customer_names"
# Partners' webhook destinations, one row per change (`schemas/destinations.py`).
DESTINATIONS_TABLE: Final = "destinations"
