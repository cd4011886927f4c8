-- Scopes an app developer asked for and an administrator grants or refuses
-- (scopes with requires_approval). A granted request's scopes were added to
-- the key set in the same transaction.
CREATE TABLE scope_requests (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    scopes       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    decided_at   BIGINT,
    decided_by   TEXT,
    outcome      TEXT
);
CREATE INDEX scope_requests_client ON scope_requests (client_id)
