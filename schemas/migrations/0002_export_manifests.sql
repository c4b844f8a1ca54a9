-- Export manifests (docs/contracts.md): one row per sealed export, the manifest's
-- canonical JSON bytes as they were signed and hashed. `seq` numbers one
-- partner's chain (1, 2, ...); the chain head is the partner's highest seq,
-- whose `digest` (SHA-256 of `manifest`) the next manifest names as `previous`.
CREATE TABLE IF NOT EXISTS export_manifests
(
    export_id   String,
    partner_id  String,
    seq         UInt64,
    created_at  DateTime64(3, 'UTC'),
    digest      String,
    manifest    String
)
ENGINE = ReplacingMergeTree
ORDER BY (partner_id, export_id)
