-- The digest of the rendering each row's English texts came from (schemas/stored_texts.py,
-- docs/architecture.md, Readable texts). The worker writes it with the texts; a row
-- written before it existed, or by a writer that does not state it, reads 0: not known
-- to be current, so exports render its texts in SQL until `activitylog migrate`
-- re-renders it. The other languages' stored texts are MATERIALIZED columns whose
-- expressions are generated from the catalogs, added by `schemas/migrate.py`.
ALTER TABLE activity ADD COLUMN IF NOT EXISTS texts_digest_en UInt64 DEFAULT 0
