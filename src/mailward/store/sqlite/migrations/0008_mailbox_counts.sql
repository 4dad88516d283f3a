-- Message and unseen counts kept on each mailbox by triggers, so a folder list
-- (every web page, IMAP STATUS) costs a row per folder instead of a scan of every
-- message of the account.
ALTER TABLE mailboxes ADD COLUMN total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET
    total = (SELECT count(*) FROM messages m
             WHERE m.account_id = mailboxes.account_id AND m.mailbox_id = mailboxes.id),
    unseen = (SELECT count(*) FROM messages m
              WHERE m.account_id = mailboxes.account_id AND m.mailbox_id = mailboxes.id
                AND m.seen = 0);
CREATE TRIGGER messages_count_insert AFTER INSERT ON messages
BEGIN
    UPDATE mailboxes SET total = total + 1, unseen = unseen + (NEW.seen = 0)
     WHERE account_id = NEW.account_id AND id = NEW.mailbox_id;
END;
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages
BEGIN
    UPDATE mailboxes SET total = total - 1, unseen = unseen - (OLD.seen = 0)
     WHERE account_id = OLD.account_id AND id = OLD.mailbox_id;
END;
CREATE TRIGGER messages_count_update AFTER UPDATE OF mailbox_id, seen ON messages
WHEN OLD.mailbox_id IS NOT NEW.mailbox_id OR OLD.seen IS NOT NEW.seen
BEGIN
    UPDATE mailboxes SET total = total - 1, unseen = unseen - (OLD.seen = 0)
     WHERE account_id = OLD.account_id AND id = OLD.mailbox_id;
    UPDATE mailboxes SET total = total + 1, unseen = unseen + (NEW.seen = 0)
     WHERE account_id = NEW.account_id AND id = NEW.mailbox_id;
END;
