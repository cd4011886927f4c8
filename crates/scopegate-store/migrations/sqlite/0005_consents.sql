-- What each user approved for each client: the newest consent per pair.
CREATE TABLE consents (
    client_id  TEXT NOT NULL,
    login      TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, login)
)
