-- Two-factor sign-in (TOTP, RFC 6238) and its recovery codes. The secret is sealed
-- with the account's key; recovery codes are stored as SHA-256 hashes (they are
-- random, 50 bits each, and used once).
CREATE TABLE second_factors (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (id),
    secret       BLOB NOT NULL,      -- sealed: owner = account, item = 'totp'
    confirmed_us INTEGER,            -- NULL while enrolment is not confirmed
    last_step    INTEGER NOT NULL DEFAULT 0  -- the newest time step used (no replay)
) WITHOUT ROWID;
CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    code_hash  BLOB NOT NULL,
    used_us    INTEGER,
    PRIMARY KEY (account_id, code_hash)
) WITHOUT ROWID;
