-- Access paths for the reads that do not follow activity's sort key (docs/architecture.md,
-- Access paths). Each is a ReplacingMergeTree fed by a materialized view on every insert
-- into activity, so a re-inserted batch or a redelivered event collapses there as it does
-- in activity, and read with FINAL. The views' SELECT lists are in the targets' column
-- order: `activitylog migrate` backfills each target from activity with the same SELECT.

-- One record by event id: the event's full activity key.
CREATE TABLE IF NOT EXISTS activity_by_event
(
    event_id    String,
    partner_id  LowCardinality(String),
    occurred_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (event_id, partner_id, occurred_at);

-- A customer's history (the Subscriptions page): customer first, so the partner key and
-- the all-partners key both read one contiguous key range.
CREATE TABLE IF NOT EXISTS activity_by_customer
(
    customer_id   String,
    partner_id    LowCardinality(String),
    occurred_at   DateTime64(3, 'UTC'),
    event_id      String,
    customer_name String,
    kind          LowCardinality(String),
    action        LowCardinality(String),
    status        LowCardinality(String),
    resource_id   String,
    resource_name String,
    order_id      String,
    details       String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (customer_id, partner_id, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_by_event_mv TO activity_by_event AS
SELECT event_id, partner_id, occurred_at
FROM activity;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_by_customer_mv TO activity_by_customer AS
SELECT customer_id, partner_id, occurred_at, event_id, customer_name, kind, action, status,
    resource_id, resource_name, order_id, details
FROM activity
