-- App passwords: random secrets for mail programs (SMTP, IMAP, POP3), which cannot
-- ask for a second factor. Only a keyed hash is kept (HMAC with a service key the
-- database does not hold); the secret is shown once, when made.
CREATE TABLE app_passwords (
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_us   INTEGER NOT NULL,
    last_used_us INTEGER,
    revoked_us   INTEGER,
    PRIMARY KEY (account_id, id)
);
