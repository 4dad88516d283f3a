-- The append-only, hash-chained access log. One row per access decision; a
-- listing of N items is one row whose `items` names each of the N items and whose
-- `unread` holds one '0'/'1' per item (unread before this access), so the report
-- can enumerate every exposed item from a compact row.
CREATE TABLE audit_log (
    pos           INTEGER PRIMARY KEY,   -- physical position; equals seq when untouched
    seq           INTEGER NOT NULL,      -- chain sequence number, covered by the hash
    at_us         INTEGER NOT NULL,      -- microseconds since the epoch, UTC
    actor_account TEXT NOT NULL,
    actor_session TEXT NOT NULL,
    protocol      TEXT NOT NULL,
    remote        TEXT NOT NULL,
    owner_account TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    items         TEXT NOT NULL,         -- space-separated item ids
    unread        TEXT NOT NULL,         -- one '0'/'1' per item, '' when not applicable
    part          TEXT NOT NULL,
    action        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL
);
CREATE INDEX audit_by_owner ON audit_log (owner_account, pos);
-- No index on time: at_us never decreases along pos (the writer keeps it so), so a
-- time window is found by binary search over pos (audit/query.py).

-- Append-only: the database itself refuses to change or remove a record.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
