-- A key set aside as possibly compromised (at, reason, source): read-only
-- and slowed until its owner releases or revokes it. Quarantine and release
-- reach every instance's cache through the change feed like a revoke.
ALTER TABLE api_keys ADD COLUMN quarantine JSONB;

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR UPDATE OF name, scopes, resources, expires_at, rate_limit, revoked_at,
        replaces, replaced_by, quarantine
    ON api_keys FOR EACH ROW EXECUTE FUNCTION keyport_key_changed();
