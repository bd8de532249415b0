-- Restrictions beyond scopes and resources (IP allowlist, countries) and a
-- report-only proposal, as one JSON document per key. They reach every
-- instance's cache through the change feed like any other key change.
ALTER TABLE api_keys ADD COLUMN restrictions JSONB;

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR UPDATE OF name, scopes, resources, expires_at, rate_limit, revoked_at,
        replaces, replaced_by, quarantine, restrictions
    ON api_keys FOR EACH ROW EXECUTE FUNCTION keyport_key_changed();

-- Requests a report-only proposal would have refused (served all the same).
ALTER TABLE usage_minutes ADD COLUMN would_deny BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_hours ADD COLUMN would_deny BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_days ADD COLUMN would_deny BIGINT NOT NULL DEFAULT 0;

-- Callers' networks (/24, /48) per key per hour.
CREATE TABLE usage_networks (
    key_id  TEXT NOT NULL,
    t       BIGINT NOT NULL,
    network TEXT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (key_id, t, network)
) WITH (fillfactor = 70);
CREATE INDEX usage_networks_by_t ON usage_networks (t);

-- Why a proposal would have refused requests (`ip 198.51.100.0/24`), per hour.
CREATE TABLE usage_would_deny (
    key_id TEXT NOT NULL,
    t      BIGINT NOT NULL,
    reason TEXT NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (key_id, t, reason)
) WITH (fillfactor = 70);
CREATE INDEX usage_would_deny_by_t ON usage_would_deny (t);

ALTER TABLE key_dimensions DROP CONSTRAINT IF EXISTS key_dimensions_dimension_check;
ALTER TABLE key_dimensions ADD CONSTRAINT key_dimensions_dimension_check
    CHECK (dimension IN ('endpoint', 'country', 'network', 'reason'));
