-- A session is bound to the CSRF cookie of the browser that signed in (its
-- SHA-256), so a cookie planted by someone else never passes a form. Sessions
-- are ended by login (sign out everywhere, a disabled user).
ALTER TABLE sessions ADD COLUMN csrf_hash BYTEA;
CREATE INDEX sessions_login ON sessions (login)
