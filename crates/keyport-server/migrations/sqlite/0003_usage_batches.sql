-- Usage flushes already written, so a batch retried after a failed COMMIT
-- (or one whose outcome was unknown) is skipped rather than counted twice.
-- `at` is unix milliseconds (database clock); rows older than a day are
-- pruned with the usage.
CREATE TABLE usage_batches (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE INDEX usage_batches_by_at ON usage_batches(at);
