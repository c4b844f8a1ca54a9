"""Event contracts (v1), the normalized activity record and the ClickHouse DDL."""
