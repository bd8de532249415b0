-- Times are unix milliseconds (INTEGER) so the same schema maps to BIGINT on PostgreSQL.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    plan       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,   -- SHA-256 hex of the whole key; the raw key is never stored
    last4        TEXT NOT NULL,
    scopes       TEXT NOT NULL,          -- "read,write"
    resources    TEXT NOT NULL,          -- JSON array of "kind:name"
    expires_at   INTEGER,
    rate_limit   TEXT,                   -- JSON {per_minute?, per_day?, burst?}
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    replaces     TEXT,
    replaced_by  TEXT
);
CREATE INDEX api_keys_by_account ON api_keys(account_id, seq);

-- Append-only: nothing updates or deletes rows here.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT,                     -- NULL when the credential matched no account
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    key_id     TEXT,
    source     TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_by_account ON audit_events(account_id, id);

-- Admitted requests per key per UTC day: survives restarts so daily quotas hold.
CREATE TABLE key_day_usage (
    key_id     TEXT NOT NULL,
    account_id TEXT NOT NULL,
    day        INTEGER NOT NULL,         -- days since the Unix epoch, UTC
    count      INTEGER NOT NULL,
    PRIMARY KEY (key_id, day)
);
CREATE INDEX key_day_usage_by_day ON key_day_usage(day);
