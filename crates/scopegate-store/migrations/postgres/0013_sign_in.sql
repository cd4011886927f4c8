-- Users who live elsewhere (docs/users.md). A user has one source: 'local'
-- (a password of ours), 'idp:<name>' (an OpenID Connect provider, keyed by
-- its subject) or 'delegated' (the provider's own login page). `permissions`
-- stay the locally set ones, and what the source vouched for at its last sign-in
-- is kept apart, replaced whole at each sign-in through it.
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local'
;
ALTER TABLE users ADD COLUMN subject TEXT
;
ALTER TABLE users ADD COLUMN display_name TEXT
;
ALTER TABLE users ADD COLUMN source_permissions TEXT NOT NULL DEFAULT ''
;
ALTER TABLE users ADD COLUMN signed_in_at BIGINT
;
CREATE UNIQUE INDEX users_source_subject ON users (source, subject)
;

-- A sign-in under way elsewhere, by SHA-256 of its handle (an upstream
-- provider's `state`, or a delegation's `login_challenge`), bound to the
-- browser that started it (the SHA-256 of its CSRF cookie). Single use,
-- short-lived. `data` is what finishing it needs, and `outcome` is what a
-- delegation's login app answered.
CREATE TABLE sign_in_challenges (
    hash       BYTEA PRIMARY KEY,
    kind       TEXT NOT NULL,
    browser    BYTEA NOT NULL,
    return_to  TEXT NOT NULL,
    data       TEXT NOT NULL,
    outcome    TEXT,
    used       BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
)
