-- A folder row's seal: its name sealed with the owner's key, associated data
-- (owner, folder id, part "folder"). The door opens it with the key of the
-- account it serves and compares the name, so another account's folder row (a
-- wrong join, a row relabelled as ours) is refused and recorded instead of
-- shown. SQL cannot seal (the keys are not in the database): rows stored before
-- keep a NULL seal here and the runtime seals them when it starts
-- (access/upgrade.py); a NULL seal found after that does not open.
ALTER TABLE mailboxes ADD COLUMN seal BLOB;
