-- The roll-up mark: usage_hours and usage_days hold every minute before
-- `upto` (unix seconds); minutes from `upto` on are only in usage_minutes,
-- added to their hour and day when read and rolled up later
-- (`roll_up_usage`). Until now every flush wrote all three tables, so the
-- mark starts just past the newest minute (hour and day rows hold every
-- minute up to it), or, with every minute pruned, past the newest hour or
-- day.
CREATE TABLE usage_rollup (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
INSERT INTO usage_rollup (id, upto) SELECT 1, COALESCE(
    (SELECT MAX(t) + 60 FROM usage_minutes),
    (SELECT MAX(t) + 3600 FROM usage_hours),
    (SELECT MAX(t) + 86400 FROM usage_days),
    0);
