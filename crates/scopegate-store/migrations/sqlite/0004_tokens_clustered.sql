-- Cluster tokens on their hash (WITHOUT ROWID): one B-tree insert for the row
-- instead of a rowid table plus a unique index, and drop the client_id index
-- (used only when an app is deleted). Issuance writes about half the pages.
CREATE TABLE tokens_clustered (
    hash        BLOB PRIMARY KEY,
    kind        TEXT NOT NULL,
    family      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    subject     TEXT,
    grant_kind  TEXT NOT NULL,
    scope       TEXT NOT NULL,
    grant_scope TEXT NOT NULL,
    environment TEXT NOT NULL,
    granted_at  INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER,
    used        INTEGER NOT NULL,
    revoked     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO tokens_clustered SELECT hash, kind, family, client_id, subject, grant_kind, scope, grant_scope, environment,
    granted_at, issued_at, expires_at, used, revoked FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_clustered RENAME TO tokens;
CREATE INDEX tokens_family ON tokens (family)
