-- Keys that sign JWT access tokens (RFC 9068). The private key is PKCS#8 DER;
-- protect the database file accordingly. Retired keys stay published in the
-- JWKS until tokens signed with them have expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    public_x    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
)
