"""Export formats (CSV, JSONL, Parquet) streamed from the store."""
