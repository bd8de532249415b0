-- One open alert per key and kind, whoever raises it: older duplicates (none
-- are expected) are resolved first so the index can be built.
UPDATE alerts SET status = 'resolved', resolved_at = created_at
WHERE status = 'open' AND EXISTS (
    SELECT 1 FROM alerts AS b
    WHERE b.key_id = alerts.key_id AND b.kind = alerts.kind AND b.status = 'open'
      AND b.seq > alerts.seq
);
CREATE UNIQUE INDEX alerts_open_once ON alerts (key_id, kind) WHERE status = 'open';
