-- The append-only, hash-chained access log. One row per access decision; a
-- listing of N items is one record whose items field names each of the N items
-- and whose unread field holds one '0'/'1' per item (unread before this access),
-- so a report can enumerate every exposed item from a compact row.
--
-- `body` is the record's canonical encoding exactly as hashed (audit/record.py);
-- the other columns are copies the database needs for lookups, checked against
-- the body by `mailward audit verify`.
CREATE TABLE audit_log (
    pos          INTEGER PRIMARY KEY,  -- physical position; equals seq when untouched
    at_us        INTEGER NOT NULL,     -- microseconds since the epoch, UTC (copy)
    others_owner TEXT,                 -- the owner, when someone else acted (copy)
    body         BLOB NOT NULL,        -- canonical encoding, ends with the previous hash
    hash         BLOB NOT NULL         -- SHA-256 of body
);
-- "Access to my mailbox": what anyone other than the owner did with the owner's
-- mail. The owner's own reads and the deliveries, most of the log, stay out of it.
CREATE INDEX audit_by_others ON audit_log (others_owner, pos) WHERE others_owner IS NOT NULL;
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
