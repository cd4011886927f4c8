-- A session is bound to the CSRF cookie of the browser that signed in (its
-- SHA-256), so a cookie planted by someone else never passes a form. Sessions
-- are ended by login (sign out everywhere, a disabled user).
ALTER TABLE sessions ADD COLUMN csrf_hash BYTEA;
CREATE INDEX sessions_login ON sessions (login)
;

-- What a page shows once after a form (a new client secret), sealed under a
-- key only the browser's cookie holds, until that one view (or 10 minutes).
CREATE TABLE shown_once (
    hash       BYTEA PRIMARY KEY,
    login      TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
)
