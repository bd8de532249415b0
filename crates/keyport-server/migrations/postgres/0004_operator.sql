-- The vendor's side: operator-set account fields, operator tokens and
-- enrollment codes. Tokens and codes are stored as SHA-256 only.
ALTER TABLE accounts ADD COLUMN external_id TEXT;
-- Suspension, limit and key-cap overrides, deletion (see store::records).
ALTER TABLE accounts ADD COLUMN operator JSONB NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX accounts_by_external_id ON accounts (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    last4       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE enrollments (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    code_hash   TEXT NOT NULL UNIQUE CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    created_by  TEXT NOT NULL,           -- operator token id or `cli`
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    key_id      TEXT                     -- the admin key it registered
);
CREATE INDEX enrollments_by_account ON enrollments (account_id);

-- Plans, limits and suspension reach every instance's cache through the
-- change feed like any other account change.
DROP TRIGGER accounts_changed ON accounts;
CREATE TRIGGER accounts_changed
    AFTER INSERT OR UPDATE OF name, plan, settings, external_id, operator
    ON accounts FOR EACH ROW EXECUTE FUNCTION keyport_account_changed();
