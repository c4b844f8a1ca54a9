-- The activity table (docs/contracts.md). ReplacingMergeTree on (partner_id, occurred_at,
-- event_id): a redelivered event or a re-inserted batch collapses to one row, and
-- readers query with FINAL so duplicates are never visible before a merge.
CREATE TABLE IF NOT EXISTS activity
(
    partner_id      LowCardinality(String),
    occurred_at     DateTime64(3, 'UTC'),
    event_id        String,
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
    ingested_at     DateTime64(3, 'UTC'),
    INDEX idx_customer_id customer_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_event_id event_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (partner_id, occurred_at, event_id)
