-- Failed enrollment attempts per source in fixed windows, in the database so
-- every instance counts the same attempts.
CREATE TABLE failed_attempts (
    source       TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,      -- unix seconds
    count        INTEGER NOT NULL
);
