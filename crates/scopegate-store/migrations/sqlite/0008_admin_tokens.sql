-- Bearer tokens for the admin API (`scopegate admin-token create`), by
-- SHA-256 of the token. `id` is what lists show and what revokes one.
CREATE TABLE admin_tokens (
    id          TEXT PRIMARY KEY,
    hash        BLOB NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
