-- The outbound queue: mail for foreign recipients waiting for the smarthost.
-- The message itself is a sealed blob (blob id = queue id, sealed with the
-- sender's key); `state` is sealed too (envelope sender, recipients and their
-- outcomes, the last error), since addresses are private. What stays plain is
-- what the scheduler needs.
CREATE TABLE outbound_queue (
    account_id      TEXT NOT NULL,      -- the sender
    id              TEXT NOT NULL,
    created_us      INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_us INTEGER NOT NULL,
    state           BLOB NOT NULL,      -- sealed JSON
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE INDEX outbound_queue_due ON outbound_queue (next_attempt_us);
