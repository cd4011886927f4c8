-- Signed-in users at the authorize endpoint, by SHA-256 of the session cookie.
CREATE TABLE sessions (
    hash       BLOB PRIMARY KEY,
    login      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Authorization codes, by SHA-256. `family` is the grant the code starts, so a
-- replayed code can revoke every token it issued.
CREATE TABLE codes (
    hash           BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    redirect_sent  INTEGER NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT,
    family         TEXT NOT NULL,
    granted_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used           INTEGER NOT NULL
)
