-- Last use per key in a narrow table of its own: the usage flush raises it
-- for every key used since the last flush, each second. As a column of
-- api_keys each raise rewrote the whole key row (JSON columns included)
-- and needed the rows locked in id order first; here it is one ordered
-- upsert of two-column rows.
CREATE TABLE key_last_used (
    key_id TEXT PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    at BIGINT NOT NULL
);

INSERT INTO key_last_used (key_id, at)
    SELECT id, last_used_at FROM api_keys WHERE last_used_at IS NOT NULL;

-- api_keys.last_used_at is no longer written or read. It stays for now so
-- that instances of the previous version, still running during a rolling
-- upgrade, keep working (they read and raise it there).
COMMENT ON COLUMN api_keys.last_used_at IS 'unused since migration 0010: see key_last_used';
