-- An address outside the service where an account is also told about an incident
-- that touched its mail (its own choice; optional).
CREATE TABLE notice_addresses (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    address    TEXT NOT NULL
);
