-- Jobs that must run on one instance of a cluster (the anomaly detector
-- with reminders and pruning) hold a lease: taken or renewed by the holder,
-- taken over by another instance once it has run out. Times are the
-- database's clock in unix ms, so instances' clocks need not agree.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);

-- One open alert per key and kind, whoever raises it: older duplicates (none
-- are expected) are resolved first so the index can be built.
UPDATE alerts AS a SET status = 'resolved', resolved_at = a.created_at
WHERE a.status = 'open' AND EXISTS (
    SELECT 1 FROM alerts AS b
    WHERE b.key_id = a.key_id AND b.kind = a.kind AND b.status = 'open' AND b.seq > a.seq
);
CREATE UNIQUE INDEX alerts_open_once ON alerts (key_id, kind) WHERE status = 'open';
