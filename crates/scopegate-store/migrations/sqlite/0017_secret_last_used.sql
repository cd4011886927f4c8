-- When a client secret last authenticated (to within a few minutes): the
-- portal shows it, so that an old secret is revoked once nothing uses it.
ALTER TABLE client_secrets ADD COLUMN last_used_at INTEGER
