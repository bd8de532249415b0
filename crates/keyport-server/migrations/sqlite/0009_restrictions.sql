-- Restrictions beyond scopes and resources (IP allowlist, countries) and a
-- report-only proposal, as one JSON document per key.
ALTER TABLE api_keys ADD COLUMN restrictions TEXT;

-- Requests a report-only proposal would have refused (served all the same).
ALTER TABLE usage_minutes ADD COLUMN would_deny INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hours ADD COLUMN would_deny INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_days ADD COLUMN would_deny INTEGER NOT NULL DEFAULT 0;

-- Callers' networks (/24, /48) per key per hour.
CREATE TABLE usage_networks (
    key_id  TEXT NOT NULL,
    t       INTEGER NOT NULL,
    network TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, t, network)
);
CREATE INDEX usage_networks_by_t ON usage_networks(t);

-- Why a proposal would have refused requests (`ip 198.51.100.0/24`), per hour.
CREATE TABLE usage_would_deny (
    key_id TEXT NOT NULL,
    t      INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key_id, t, reason)
);
CREATE INDEX usage_would_deny_by_t ON usage_would_deny(t);
