-- A message's five list fields (subject, from, to, cc, snippet) are sealed as one
-- value, part "summary" (access/_sealing.py): a page of 50 messages opens 50
-- values instead of 250. SQL cannot convert the rows stored before (the keys are
-- not in the database): their five sealed values move to `legacy_list_fields`,
-- their `summary` stays NULL, and the runtime converts them when it starts, each
-- opened with its owner's key and sealed again as one value (access/upgrade.py).
-- DROP COLUMN needs SQLite 3.35 or newer (Debian 12 ships 3.40).
CREATE TABLE legacy_list_fields (
    tbl        TEXT NOT NULL,  -- 'messages' or 'tombstones'
    account_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    subject    BLOB NOT NULL,
    sender     BLOB NOT NULL,
    recipients BLOB NOT NULL,
    cc         BLOB NOT NULL,
    snippet    BLOB NOT NULL,
    -- 1: the values do not open under the owner's key (tampered with, or another
    -- account's). Kept here as found; the row's summary holds one of them, which
    -- does not open either, so the row stays refused.
    kept       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, account_id, id)
) WITHOUT ROWID;
INSERT INTO legacy_list_fields (tbl, account_id, id, subject, sender, recipients, cc, snippet)
    SELECT 'messages', account_id, id, subject, sender, recipients, cc, snippet FROM messages;
INSERT INTO legacy_list_fields (tbl, account_id, id, subject, sender, recipients, cc, snippet)
    SELECT 'tombstones', account_id, id, subject, sender, recipients, cc, snippet FROM tombstones;
ALTER TABLE messages ADD COLUMN summary BLOB;
ALTER TABLE messages DROP COLUMN subject;
ALTER TABLE messages DROP COLUMN sender;
ALTER TABLE messages DROP COLUMN recipients;
ALTER TABLE messages DROP COLUMN cc;
ALTER TABLE messages DROP COLUMN snippet;
ALTER TABLE tombstones ADD COLUMN summary BLOB;
ALTER TABLE tombstones DROP COLUMN subject;
ALTER TABLE tombstones DROP COLUMN sender;
ALTER TABLE tombstones DROP COLUMN recipients;
ALTER TABLE tombstones DROP COLUMN cc;
ALTER TABLE tombstones DROP COLUMN snippet;
