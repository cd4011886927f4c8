-- What changed, in order, so that every process's caches can follow: a
-- revocation, a key set's or a user's change, a new signing key, a policy
-- reload. Written in the same transaction as the change itself. Each node
-- reads what follows the last id it saw. Old rows are pruned.
CREATE TABLE changes (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key  TEXT NOT NULL
);
CREATE INDEX changes_at ON changes (at)
