-- What mail programs ask of every message again and again (IMAP ENVELOPE and
-- BODYSTRUCTURE), worked out once from the raw message and kept sealed for the
-- owner like every other private field (associated data: owner, item, part), so
-- a page of the newest 50 opens 50 small values instead of 50 whole messages.
-- Filled when first asked for, as Dovecot fills its index cache; dropped with the
-- message.
CREATE TABLE message_cache (
    account_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    part       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    PRIMARY KEY (account_id, id, part)
) WITHOUT ROWID;
CREATE TRIGGER message_cache_drop AFTER DELETE ON messages
BEGIN
    DELETE FROM message_cache WHERE account_id = OLD.account_id AND id = OLD.id;
END;
