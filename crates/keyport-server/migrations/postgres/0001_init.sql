-- Keyport's schema on PostgreSQL, the same data as migrations/sqlite in
-- PostgreSQL's own terms.
--
-- Times are integers, as on SQLite, so both stores read and write the same
-- numbers and nothing converts between time zones:
--   * instants (created_at, expires_at, revoked_at, last_used_at, at,
--     acknowledged_at, resolved_at) are BIGINT unix milliseconds, UTC;
--   * usage buckets (`t` of the usage tables, first_seen/last_seen) are BIGINT
--     unix seconds of the bucket's start (minute, hour or UTC day);
--   * `day` is BIGINT days since the Unix epoch, UTC.
-- Counters are BIGINT. JSON values are JSONB. Raw keys are never stored:
-- api_keys.key_hash is the SHA-256 of the whole key, in hex.
--
-- Tables whose rows the usage flush updates every second (last-used times,
-- counters) leave 30 % of each page free (fillfactor 70): those updates
-- change no indexed column, so they are HOT updates that stay on their
-- page, add no index entries, and are pruned with the page, without
-- waiting for (auto)vacuum.

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    plan       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Rotation policy, business hours, allowed countries.
    settings   JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE api_keys (
    -- Listing order and page cursor.
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    last4        TEXT NOT NULL,
    scopes       TEXT NOT NULL,          -- "read,write"
    resources    JSONB NOT NULL,         -- ["kind:name", …]
    expires_at   BIGINT,
    rate_limit   JSONB,                  -- {per_minute?, per_day?, burst?}
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    replaces     TEXT,
    replaced_by  TEXT
) WITH (fillfactor = 70);
-- keys_page, key_names, count_active_keys (by account, newest first); the
-- unique index on id serves key, rotation links and last-used updates.
-- unrevoked_keys (the verify cache, loaded once at start) reads the whole
-- table on purpose: no partial index on revoked_at, which a planner without
-- statistics yet would also pick for the rotation-link lookups.
CREATE INDEX api_keys_by_account ON api_keys (account_id, seq);

-- Append-only, except that failed logins of no account are pruned.
CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT,                     -- NULL when the credential matched no account
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    key_id     TEXT,
    source     TEXT,
    detail     JSONB NOT NULL
);
-- audit_page (by account, newest first).
CREATE INDEX audit_events_by_account ON audit_events (account_id, id);
-- prune_strangers_audit.
CREATE INDEX audit_events_strangers ON audit_events (at) WHERE account_id IS NULL;

-- Admitted requests per key per UTC day: survives restarts so daily quotas hold.
CREATE TABLE key_day_usage (
    key_id     TEXT NOT NULL,
    account_id TEXT NOT NULL,
    day        BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (key_id, day)
) WITH (fillfactor = 70);
-- day_counts (today's counts, loaded at start).
CREATE INDEX key_day_usage_by_day ON key_day_usage (day);

-- Requests per key by outcome at three resolutions, written only by the
-- usage flush. The primary key serves usage_series (one key, a time range).
CREATE TABLE usage_minutes (
    key_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    t            BIGINT NOT NULL,
    success      BIGINT NOT NULL DEFAULT 0,
    client_error BIGINT NOT NULL DEFAULT 0,
    server_error BIGINT NOT NULL DEFAULT 0,
    rate_limited BIGINT NOT NULL DEFAULT 0,
    denied       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, t)
) WITH (fillfactor = 70);
-- minutes_since (the detector's window) and prune_usage.
CREATE INDEX usage_minutes_by_t ON usage_minutes (t);
-- account_series and usage_totals.
CREATE INDEX usage_minutes_by_account ON usage_minutes (account_id, t);

CREATE TABLE usage_hours (
    key_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    t            BIGINT NOT NULL,
    success      BIGINT NOT NULL DEFAULT 0,
    client_error BIGINT NOT NULL DEFAULT 0,
    server_error BIGINT NOT NULL DEFAULT 0,
    rate_limited BIGINT NOT NULL DEFAULT 0,
    denied       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, t)
) WITH (fillfactor = 70);
CREATE INDEX usage_hours_by_t ON usage_hours (t);                      -- prune_usage
CREATE INDEX usage_hours_by_account ON usage_hours (account_id, t);

-- Day rows are kept for good (never pruned).
CREATE TABLE usage_days (
    key_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    t            BIGINT NOT NULL,
    success      BIGINT NOT NULL DEFAULT 0,
    client_error BIGINT NOT NULL DEFAULT 0,
    server_error BIGINT NOT NULL DEFAULT 0,
    rate_limited BIGINT NOT NULL DEFAULT 0,
    denied       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, t)
) WITH (fillfactor = 70);
CREATE INDEX usage_days_by_account ON usage_days (account_id, t);

-- Gateway breakdowns per key per hour. The primary key serves usage_top.
CREATE TABLE usage_endpoints (
    key_id   TEXT NOT NULL,
    t        BIGINT NOT NULL,
    endpoint TEXT NOT NULL,
    count    BIGINT NOT NULL,
    PRIMARY KEY (key_id, t, endpoint)
) WITH (fillfactor = 70);
CREATE INDEX usage_endpoints_by_t ON usage_endpoints (t);   -- prune_usage

CREATE TABLE usage_countries (
    key_id  TEXT NOT NULL,
    t       BIGINT NOT NULL,
    country TEXT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (key_id, t, country)
) WITH (fillfactor = 70);
CREATE INDEX usage_countries_by_t ON usage_countries (t);   -- prune_usage

-- Every endpoint and country each key has used, with first and last minute
-- seen: what "never before" means for anomaly detection. The primary key
-- serves dimension_history.
CREATE TABLE key_dimensions (
    key_id     TEXT NOT NULL,
    dimension  TEXT NOT NULL CHECK (dimension IN ('endpoint', 'country')),
    value      TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (key_id, dimension, value)
) WITH (fillfactor = 70);
-- known_endpoints (loaded at start).
CREATE INDEX key_dimensions_endpoints ON key_dimensions (key_id, value)
    WHERE dimension = 'endpoint';

-- Anomaly alerts and rotation reminders.
CREATE TABLE alerts (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    message         TEXT NOT NULL,
    evidence        JSONB NOT NULL,
    created_at      BIGINT NOT NULL,
    acknowledged_at BIGINT,
    resolved_at     BIGINT
);
-- alerts (by account, newest first) and alert (by account and id).
CREATE INDEX alerts_by_account ON alerts (account_id, created_at DESC, seq DESC);
-- alerts with open_only, and open_alerts.
CREATE INDEX alerts_open ON alerts (account_id, created_at DESC, seq DESC)
    WHERE status = 'open';
-- latest_alert (newest of a key and kind).
CREATE INDEX alerts_by_key_kind ON alerts (key_id, kind, seq DESC);

-- Usage flushes already written, so a batch retried after a lost COMMIT
-- acknowledgement is skipped rather than counted twice. Rows older than a
-- day are pruned with the usage.
CREATE TABLE usage_batches (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL                   -- when it was written (database clock)
);
CREATE INDEX usage_batches_by_at ON usage_batches (at);
