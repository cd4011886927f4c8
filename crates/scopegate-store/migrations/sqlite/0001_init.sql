CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    owner      TEXT,
    created_at INTEGER NOT NULL
);

-- One key set per app and environment.
CREATE TABLE clients (
    client_id       TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    environment     TEXT NOT NULL,
    secret_hash     BLOB,
    public          INTEGER NOT NULL,
    resource_server INTEGER NOT NULL,
    scopes          TEXT NOT NULL,
    default_scopes  TEXT NOT NULL,
    redirect_uris   TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (app_id, environment)
);

CREATE TABLE users (
    login         TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Access and refresh tokens, by SHA-256 of the token. `family` is the grant:
-- every token a grant and its refreshes produced, revoked together.
CREATE TABLE tokens (
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
);
CREATE INDEX tokens_family ON tokens (family);
CREATE INDEX tokens_client ON tokens (client_id);

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    event     TEXT NOT NULL,
    client_id TEXT,
    subject   TEXT,
    detail    TEXT NOT NULL
);
