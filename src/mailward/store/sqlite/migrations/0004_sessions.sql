-- Web and API sessions. Only a keyed hash of the session token is stored (the
-- key is a service key the database does not hold), so a copy of the database
-- opens no session, and a lookup that returns the wrong row is caught: the row's
-- own hash must match the token presented (auth/sessions.py).
CREATE TABLE sessions (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    id           TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    protocol     TEXT NOT NULL,
    remote       TEXT NOT NULL,
    device       TEXT NOT NULL,
    created_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    revoked_us   INTEGER,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE INDEX sessions_live ON sessions (account_id, revoked_us);
