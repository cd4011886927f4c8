-- Revoked stateless tokens (JWT access tokens are not stored one by one):
-- `jti:<id>` for one token, `gid:<family>` for every token of a grant.
-- `expires_at` says when the entry can be forgotten (NULL: keep).
CREATE TABLE revocations (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER
)
