-- The page's customer-name filter (query/reads/names.py; docs/architecture.md, Access
-- paths): each partner's customers by name, so a name typed in the filter finds its
-- customer ids in the partner's key range, and their rows through activity_by_customer
-- and activity_records, instead of scanning the names of every row in the page's range.
-- One row per (partner, name, customer id) once merged; the version keeps the latest
-- occurred_at, so the retention TTL drops a name with the last row that carries it.
CREATE TABLE IF NOT EXISTS activity_customer_names
(
    partner_id    LowCardinality(String),
    customer_name String,
    customer_id   String,
    occurred_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(occurred_at)
ORDER BY (partner_id, customer_name, customer_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_customer_names_mv TO activity_customer_names AS
SELECT partner_id, customer_name, customer_id, occurred_at
FROM activity
