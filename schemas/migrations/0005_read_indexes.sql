-- Skip indexes for two reads that filter activity on a column outside its sort key
-- (docs/architecture.md, Access paths). Each holds one small summary per granule (8,192
-- rows), so a read skips the granules that cannot hold what it asks for.

-- The page's customer-name filter (`customer`, query/filters.py): trigrams of the name in
-- lower case, the expression the filter repeats. 4,096 bytes per granule: a granule
-- holds a few thousand distinct trigrams, and a name of n letters needs all of its n - 2
-- trigrams to match, so a rare name skips nearly every granule.
ALTER TABLE activity ADD INDEX IF NOT EXISTS idx_customer_name_ngrams lowerUTF8(customer_name)
    TYPE ngrambf_v1(3, 4096, 2, 0) GRANULARITY 1;

-- A record's lifecycle (the events sharing its correlation id, query/reads/lifecycle.py):
-- the steps of one lifecycle sit in a few granules of its partner's time range.
ALTER TABLE activity ADD INDEX IF NOT EXISTS idx_correlation_id correlation_id
    TYPE bloom_filter GRANULARITY 1;

-- Parts written before the indexes existed get them too. Each is a mutation that the
-- engine runs in the background and resumes after a restart; running it again rebuilds
-- the same index.
ALTER TABLE activity MATERIALIZE INDEX idx_customer_name_ngrams;

ALTER TABLE activity MATERIALIZE INDEX idx_correlation_id
