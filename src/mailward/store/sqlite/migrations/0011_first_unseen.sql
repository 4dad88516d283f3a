-- The first unseen message of a mailbox (IMAP SELECT's OK [UNSEEN n]) in one seek:
-- the unseen index carries the UID, so min(uid) among seen = 0 is its first entry
-- instead of a visit to every unseen row.
DROP INDEX messages_unseen;
CREATE INDEX messages_unseen ON messages (account_id, mailbox_id, seen, uid);
