-- What changed, in order, so that every node's caches can follow: a
-- revocation, a key set's or a user's change, a new signing key, a policy
-- reload. Written in the same transaction as the change itself, with a
-- NOTIFY on `scopegate_changes` that wakes every node to read what follows
-- the last id it saw. Old rows are pruned.
CREATE TABLE changes (
    id   BIGSERIAL PRIMARY KEY,
    at   BIGINT NOT NULL,
    kind TEXT NOT NULL,
    key  TEXT NOT NULL
);
CREATE INDEX changes_at ON changes (at)
