-- The change feed: every change to a key or an account that another
-- instance's verify cache must see, written by triggers in the same
-- transaction as the change itself, so no write path can forget it.
-- Listeners are woken with NOTIFY; each instance also reads the log
-- periodically, so a lost notification cannot leave a stale entry.
CREATE TABLE changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('key', 'account')),
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL,
    -- The database clock at the change (unix ms): for pruning only.
    at         BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
);

CREATE INDEX changes_by_at ON changes (at);   -- pruning

CREATE FUNCTION keyport_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (kind, id, account_id) VALUES ('key', NEW.id, NEW.account_id);
    PERFORM pg_notify('keyport_changes', '');
    RETURN NULL;
END $$;

CREATE FUNCTION keyport_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (kind, id, account_id) VALUES ('account', NEW.id, NEW.id);
    PERFORM pg_notify('keyport_changes', '');
    RETURN NULL;
END $$;

-- Not on last_used_at: the usage flush updates it every second and no
-- cache decision depends on it.
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR UPDATE OF name, scopes, resources, expires_at, rate_limit, revoked_at,
        replaces, replaced_by
    ON api_keys FOR EACH ROW EXECUTE FUNCTION keyport_key_changed();

CREATE TRIGGER accounts_changed
    AFTER INSERT OR UPDATE OF name, plan, settings
    ON accounts FOR EACH ROW EXECUTE FUNCTION keyport_account_changed();
