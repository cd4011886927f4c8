-- Revoking every token of a key set or of a user, stateless JWTs included:
-- a token whose grant was made at or before this time is refused.
ALTER TABLE clients ADD COLUMN tokens_revoked_before INTEGER;
ALTER TABLE users ADD COLUMN tokens_revoked_before INTEGER
