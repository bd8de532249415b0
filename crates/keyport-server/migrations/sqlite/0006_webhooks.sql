-- Outbound webhooks: endpoints, the events written with the change they
-- announce (an outbox), and one delivery row per event and endpoint.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- Subscribed types between commas (`,key.created,key.revoked,`), so one
    -- LIKE finds the subscribers of a type on both databases.
    events          TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    -- Kept to sign deliveries (the API shows it once, at creation).
    secret          TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints(account_id);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,        -- msg_…: the webhook-id header
    account_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL,           -- the exact body sent
    created_at  INTEGER NOT NULL,
    -- Events announced once per episode (quota thresholds) carry a name
    -- here: a second instance's attempt to write it is ignored.
    dedup       TEXT UNIQUE
);
CREATE INDEX webhook_events_by_time ON webhook_events(created_at);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL REFERENCES webhook_events(id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id),
    account_id      TEXT NOT NULL,
    status          TEXT NOT NULL,       -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,             -- while pending
    last_attempt_at INTEGER,
    response_status INTEGER,
    error           TEXT,
    latency_ms      INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, id);
