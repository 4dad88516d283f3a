-- A folder row's seal: its name sealed with the owner's key, associated data
-- (owner, folder id, part "folder"). The door opens it with the key of the
-- account it serves and compares the name, so another account's folder row (a
-- wrong join, a row relabelled as ours) is refused and recorded instead of
-- shown. SQL cannot seal (the keys are not in the database): the rows stored
-- before this migration are listed in `folder_seals_pending`, and the runtime
-- seals those, and only those, when it starts (access/upgrade.py). A row with no
-- seal that is not listed there (put in without the door) stays refused.
CREATE TABLE folder_seals_pending (
    account_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
INSERT INTO folder_seals_pending (account_id, id) SELECT account_id, id FROM mailboxes;
ALTER TABLE mailboxes ADD COLUMN seal BLOB;
