-- Small sealed blobs live in the database, committed in the same transaction as
-- the message row (one fsync for both); larger ones go to the filesystem store.
CREATE TABLE inline_blobs (
    account_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (account_id, id)
);
