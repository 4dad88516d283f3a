-- Data keys wrapped by the master key. `owner` is an account id, or a named
-- service key such as 'audit-head'. `kid` names the master key that wrapped it.
CREATE TABLE data_keys (
    owner      TEXT PRIMARY KEY,
    kid        TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
