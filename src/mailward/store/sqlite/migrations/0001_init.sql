-- Mailward store schema, version 1. Every mail table is keyed by account_id first:
-- nothing is shared or de-duplicated across accounts. Private header fields are
-- sealed (AES-256-GCM, owner/item/part-bound) BLOBs; bodies live sealed in the
-- blob store.
CREATE TABLE domains (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_us INTEGER NOT NULL
);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    address       TEXT NOT NULL UNIQUE,
    domain_id     TEXT NOT NULL REFERENCES domains (id),
    password_hash TEXT NOT NULL,
    created_us    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE mailboxes (
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    id             TEXT NOT NULL,
    name           TEXT NOT NULL,
    special_use    TEXT,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    subscribed     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name)
) WITHOUT ROWID;

CREATE TABLE messages (
    account_id        TEXT NOT NULL,
    id                TEXT NOT NULL,
    mailbox_id        TEXT NOT NULL,
    uid               INTEGER NOT NULL,
    modseq            INTEGER NOT NULL,
    internal_us       INTEGER NOT NULL,
    size              INTEGER NOT NULL,
    flags             TEXT NOT NULL DEFAULT '',
    seen              INTEGER NOT NULL DEFAULT 0,
    has_attachments   INTEGER NOT NULL DEFAULT 0,
    origin_mailbox_id TEXT,
    subject           BLOB NOT NULL,
    sender            BLOB NOT NULL,
    recipients        BLOB NOT NULL,
    cc                BLOB NOT NULL,
    snippet           BLOB NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes (account_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_by_uid ON messages (account_id, mailbox_id, uid);
CREATE INDEX messages_by_date ON messages (account_id, mailbox_id, internal_us, id);
CREATE INDEX messages_unseen ON messages (account_id, mailbox_id, seen);

-- An expunged message leaves its sealed row here until `expires_us`; its blob is
-- kept as long, so a change by anyone other than the owner can be restored.
CREATE TABLE tombstones (
    account_id      TEXT NOT NULL,
    id              TEXT NOT NULL,
    mailbox_id      TEXT NOT NULL,
    mailbox_name    TEXT NOT NULL,
    uid             INTEGER NOT NULL,
    internal_us     INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    flags           TEXT NOT NULL,
    has_attachments INTEGER NOT NULL,
    subject         BLOB NOT NULL,
    sender          BLOB NOT NULL,
    recipients      BLOB NOT NULL,
    cc              BLOB NOT NULL,
    snippet         BLOB NOT NULL,
    expunged_us     INTEGER NOT NULL,
    expunged_by     TEXT NOT NULL,
    expires_us      INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE INDEX tombstones_by_expiry ON tombstones (expires_us);

-- Delegation: `owner` lets `grantee` read one of its mailboxes. Explicit, visible
-- to the owner, revocable.
CREATE TABLE grants (
    account_id  TEXT NOT NULL,          -- the owner
    id          TEXT NOT NULL,
    mailbox_id  TEXT NOT NULL,
    grantee_id  TEXT NOT NULL REFERENCES accounts (id),
    rights      TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    revoked_us  INTEGER,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE INDEX grants_by_grantee ON grants (grantee_id);

-- Every login attempt: the "last logon" data the user sees.
CREATE TABLE login_events (
    id         INTEGER PRIMARY KEY,
    at_us      INTEGER NOT NULL,
    account_id TEXT,                    -- NULL when the address is unknown
    address    TEXT NOT NULL,
    remote     TEXT NOT NULL,
    protocol   TEXT NOT NULL,
    client     TEXT NOT NULL,
    success    INTEGER NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX login_events_by_account ON login_events (account_id, id);
CREATE INDEX login_events_by_address ON login_events (address, id);
