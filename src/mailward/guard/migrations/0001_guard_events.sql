-- What the guard did: trips (a response refused, or with --no-guard let through,
-- because it carried another account's data), and the containment that followed
-- (flag rolled back, kill switch engaged). An incident is a trip; `incident` of a
-- containment row names the trip that caused it.
CREATE TABLE guard_events (
    id        INTEGER PRIMARY KEY,
    at_us     INTEGER NOT NULL,
    kind      TEXT NOT NULL,      -- trip | rollback | killswitch
    protocol  TEXT NOT NULL,
    principal TEXT NOT NULL,      -- the account the response was for ('' = signed out)
    session   TEXT NOT NULL,
    remote    TEXT NOT NULL,
    owners    TEXT NOT NULL,      -- the other accounts whose data it carried
    flags     TEXT NOT NULL,      -- flags the response was produced under
    refused   INTEGER NOT NULL,   -- 1: nothing of it was sent
    incident  INTEGER,            -- the trip a containment row answers
    detail    TEXT NOT NULL
);
