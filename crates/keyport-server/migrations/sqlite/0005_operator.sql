-- The vendor's side: operator-set account fields, operator tokens and
-- enrollment codes. Tokens and codes are stored as SHA-256 only.
ALTER TABLE accounts ADD COLUMN external_id TEXT;
-- Suspension, limit and key-cap overrides, deletion (JSON, see store::records).
ALTER TABLE accounts ADD COLUMN operator TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX accounts_by_external_id ON accounts(external_id) WHERE external_id IS NOT NULL;

CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    last4       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE enrollments (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    code_hash   TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,           -- operator token id or `cli`
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    key_id      TEXT                     -- the admin key it registered
);
CREATE INDEX enrollments_by_account ON enrollments(account_id);
