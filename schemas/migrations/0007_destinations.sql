-- Webhook destinations (schemas/destinations.py): one row per change of a destination,
-- the newest (by updated_at) wins. No secret is stored: only the salt it is derived from
-- with the server's destinations key, and a fingerprint to tell secrets apart.
CREATE TABLE IF NOT EXISTS destinations
(
    partner_id LowCardinality(String),
    destination_id String,
    url String,
    description String,
    actions Array(String),
    kinds Array(String),
    customers Array(String),
    salt String,
    secret_fingerprint String,
    created_at DateTime64(3, 'UTC'),
    created_by String,
    state LowCardinality(String),
    state_reason String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (partner_id, destination_id);
