-- One record by event id, the expanded row (query/reads/records.py; docs/architecture.md,
-- Access paths): every column of activity, sorted by the event id, in granules of 1,024
-- rows and compressed blocks of 16-256 KiB. Reading it through activity's own key
-- (activity_by_event, then activity) decompresses a granule of 8,192 wide rows of every
-- column, whatever the one row it returns; here the read decompresses the event id of one
-- small granule per part and the other columns of the one granule that holds the event.
-- Why 1,024 and not fewer: a column's marks load whole into the mark cache (64 MiB by
-- default), and at 256 rows a granule the 27 columns' marks of 100 million rows would
-- take most of it, for a read of 0.9 MB instead of 1.6 MB. ReplacingMergeTree fed by a
-- materialized view on every insert into activity, in the same order, so its copies of an
-- event collapse to the row activity FINAL keeps; backfilled by `activitylog migrate`
-- with the same SELECT.
CREATE TABLE IF NOT EXISTS activity_records
(
    event_id        String,
    partner_id      LowCardinality(String),
    occurred_at     DateTime64(3, 'UTC'),
    kind            LowCardinality(String),
    action          LowCardinality(String),
    customer_id     String,
    customer_name   String,
    partner_user    String,
    action_text     String,
    status          LowCardinality(String),
    status_text     String,
    additional_info String,
    resource_type   LowCardinality(String),
    resource_id     String,
    resource_name   String,
    order_id        String,
    correlation_id  String,
    source          LowCardinality(String),
    actor_ip        String,
    user_agent      String,
    details         String,
    payload         String CODEC(ZSTD(3)),
    schema_version  UInt8,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (event_id, partner_id, occurred_at)
SETTINGS index_granularity = 1024, min_compress_block_size = 16384, max_compress_block_size = 262144;

-- A record's lifecycle (query/reads/lifecycle.py): the keys of a partner's events that
-- share a correlation id, in one key range, so finding the steps reads what they are,
-- not the skip index and granules of the partner's time window in activity.
CREATE TABLE IF NOT EXISTS activity_by_correlation
(
    partner_id     LowCardinality(String),
    correlation_id String,
    occurred_at    DateTime64(3, 'UTC'),
    event_id       String
)
ENGINE = ReplacingMergeTree
ORDER BY (partner_id, correlation_id, occurred_at, event_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_records_mv TO activity_records AS
SELECT event_id, partner_id, occurred_at, kind, action, customer_id, customer_name,
    partner_user, action_text, status, status_text, additional_info, resource_type,
    resource_id, resource_name, order_id, correlation_id, source, actor_ip, user_agent,
    details, payload, schema_version, kafka_topic, kafka_partition, kafka_offset, ingested_at
FROM activity;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_by_correlation_mv TO activity_by_correlation AS
SELECT partner_id, correlation_id, occurred_at, event_id
FROM activity
