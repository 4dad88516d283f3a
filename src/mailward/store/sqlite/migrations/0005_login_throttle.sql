-- Counting recent failed sign-ins by client address (throttling per address).
CREATE INDEX login_events_by_remote ON login_events (remote, id);
