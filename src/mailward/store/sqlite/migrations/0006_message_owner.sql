-- The owner of a message id, looked up only when a principal asks for an id that
-- is not theirs: the attempt is then recorded as refused under the real owner,
-- who sees it in "access to my mailbox". Ids are time-ordered, so inserts append.
CREATE INDEX messages_by_id ON messages (id);
