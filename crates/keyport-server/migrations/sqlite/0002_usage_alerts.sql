-- Account settings: rotation policy, business hours, allowed countries (JSON).
ALTER TABLE accounts ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Requests per key by outcome, at three resolutions. `t` is the bucket start
-- in unix seconds (minute, hour or UTC day). Written only by the usage flush.
CREATE TABLE usage_minutes (
    key_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    t            INTEGER NOT NULL,
    success      INTEGER NOT NULL DEFAULT 0,
    client_error INTEGER NOT NULL DEFAULT 0,
    server_error INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    denied       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, t)
);
CREATE INDEX usage_minutes_by_t ON usage_minutes(t);
CREATE INDEX usage_minutes_by_account ON usage_minutes(account_id, t);

CREATE TABLE usage_hours (
    key_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    t            INTEGER NOT NULL,
    success      INTEGER NOT NULL DEFAULT 0,
    client_error INTEGER NOT NULL DEFAULT 0,
    server_error INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    denied       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, t)
);
CREATE INDEX usage_hours_by_t ON usage_hours(t);
CREATE INDEX usage_hours_by_account ON usage_hours(account_id, t);

CREATE TABLE usage_days (
    key_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    t            INTEGER NOT NULL,
    success      INTEGER NOT NULL DEFAULT 0,
    client_error INTEGER NOT NULL DEFAULT 0,
    server_error INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    denied       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, t)
);
CREATE INDEX usage_days_by_account ON usage_days(account_id, t);

-- Gateway breakdowns per key per hour (bounded endpoint cardinality per key).
CREATE TABLE usage_endpoints (
    key_id   TEXT NOT NULL,
    t        INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (key_id, t, endpoint)
);
CREATE TABLE usage_countries (
    key_id  TEXT NOT NULL,
    t       INTEGER NOT NULL,
    country TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, t, country)
);

-- Anomaly alerts and rotation reminders.
CREATE TABLE alerts (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,        -- open | acknowledged | resolved
    message         TEXT NOT NULL,
    evidence        TEXT NOT NULL,        -- JSON
    created_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER
);
CREATE INDEX alerts_by_account ON alerts(account_id, created_at);
CREATE INDEX alerts_by_key_kind ON alerts(key_id, kind, created_at);

-- Every endpoint and country each key has used, with first and last minute
-- seen (unix seconds): what "never before" means for anomaly detection.
CREATE TABLE key_dimensions (
    key_id     TEXT NOT NULL,
    dimension  TEXT NOT NULL,            -- endpoint | country
    value      TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (key_id, dimension, value)
);
