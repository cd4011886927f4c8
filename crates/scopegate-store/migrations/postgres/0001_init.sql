CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    owner      TEXT,
    created_at BIGINT NOT NULL
);

-- One key set per app and environment.
CREATE TABLE clients (
    client_id       TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    environment     TEXT NOT NULL,
    secret_hash     BYTEA,
    public          BOOLEAN NOT NULL,
    resource_server BOOLEAN NOT NULL,
    scopes          TEXT NOT NULL,
    default_scopes  TEXT NOT NULL,
    redirect_uris   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (app_id, environment)
);

CREATE TABLE users (
    login         TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Access and refresh tokens, by SHA-256 of the token. `family` is the grant:
-- every token a grant and its refreshes produced, revoked together.
CREATE TABLE tokens (
    hash        BYTEA PRIMARY KEY,
    kind        TEXT NOT NULL,
    family      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    subject     TEXT,
    grant_kind  TEXT NOT NULL,
    scope       TEXT NOT NULL,
    grant_scope TEXT NOT NULL,
    environment TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT,
    used        BOOLEAN NOT NULL,
    revoked     BOOLEAN NOT NULL
);
CREATE INDEX tokens_family ON tokens (family);
CREATE INDEX tokens_client ON tokens (client_id);

CREATE TABLE audit (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    event     TEXT NOT NULL,
    client_id TEXT,
    subject   TEXT,
    detail    TEXT NOT NULL
);
