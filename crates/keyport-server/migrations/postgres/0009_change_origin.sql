-- Which connection wrote a change: each instance names its connections
-- `keyport-server/<instance>` (application_name), so its feed follower can
-- skip what this instance already applied to its own cache when it wrote.
ALTER TABLE changes ADD COLUMN origin TEXT DEFAULT current_setting('application_name', true);
