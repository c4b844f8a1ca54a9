-- Scheduled exports (POST /api/v1/schedules): one row per change of a schedule,
-- the highest `version` wins (ORDER BY version DESC LIMIT 1 BY schedule_id), as
-- for export_jobs. `rule` is the schedule's JSON (docs/contracts.md, Scheduled
-- exports); what a schedule has run is not kept here: each period's export job
-- has an id derived from the schedule and the period, so export_jobs says it.
CREATE TABLE IF NOT EXISTS export_schedules
(
    schedule_id String,
    version     UInt64,
    partner_id  String,
    created_by  String,
    created_at  DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC'),
    state       LowCardinality(String),
    rule        String
)
ENGINE = ReplacingMergeTree
ORDER BY schedule_id
