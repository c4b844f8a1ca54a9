-- Export jobs (POST /api/v1/exports): one row per state change of a job, so a
-- progress update is a small insert, never an UPDATE, and the job's state
-- survives a restart of the server. Readers take each job's highest `version`
-- (ORDER BY version DESC LIMIT 1 BY job_id); merges drop the older rows.
CREATE TABLE IF NOT EXISTS export_jobs
(
    job_id        String,
    version       UInt64,
    partner_id    String,
    created_by    String,
    created_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    state         LowCardinality(String),
    request       String,
    rows_written  UInt64,
    rows_total    UInt64,
    bytes_written UInt64,
    file_name     String,
    sha256        String,
    error         String,
    finished_at   Nullable(DateTime64(3, 'UTC')),
    expires_at    Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree
ORDER BY job_id
