-- A key set aside as possibly compromised (JSON: at, reason, source):
-- read-only and slowed until its owner releases or revokes it.
ALTER TABLE api_keys ADD COLUMN quarantine TEXT;
