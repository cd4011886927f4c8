-- Several secrets per key set, each with an optional expiry, so that a secret
-- is rotated without downtime. By SHA-256 only, as before.
CREATE TABLE client_secrets (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX client_secrets_client ON client_secrets (client_id);
INSERT INTO client_secrets (id, client_id, hash, created_at)
    SELECT 'sgsi_' || client_id, client_id, secret_hash, created_at FROM clients WHERE secret_hash IS NOT NULL;
ALTER TABLE clients DROP COLUMN secret_hash
