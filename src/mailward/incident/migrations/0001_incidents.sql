-- Incidents: a window of the audit log under investigation. A report over a window
-- opens one (or reuses the one with the same window); a guard trip opens one too.
-- `notify` and `restore` take its id and record what they did, so that running
-- them again does nothing twice.
CREATE TABLE incidents (
    id        INTEGER PRIMARY KEY,
    opened_us INTEGER NOT NULL,
    since_us  INTEGER NOT NULL,
    until_us  INTEGER,            -- NULL: still open (a guard incident: up to now)
    source    TEXT NOT NULL,      -- window | guard
    trip      INTEGER,            -- guard_events.id of the trip that opened it
    UNIQUE (source, since_us, until_us)
);
CREATE TABLE incident_notices (
    incident  INTEGER NOT NULL REFERENCES incidents(id),
    account   TEXT NOT NULL,
    sent_us   INTEGER NOT NULL,
    PRIMARY KEY (incident, account)
);
CREATE TABLE incident_restores (
    incident  INTEGER NOT NULL REFERENCES incidents(id),
    account   TEXT NOT NULL,
    item      TEXT NOT NULL,
    action    TEXT NOT NULL,      -- the change undone
    at_us     INTEGER NOT NULL,   -- the audit time of that change
    outcome   TEXT NOT NULL,      -- restored | skipped: why
    PRIMARY KEY (incident, account, item, action, at_us)
);
