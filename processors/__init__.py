"""The Faust worker: decode, validate, normalize, batch-insert into ClickHouse, dead-letter."""
