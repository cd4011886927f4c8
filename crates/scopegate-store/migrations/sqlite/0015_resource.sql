-- The resource (RFC 8707) a grant is for: the audience of its tokens (docs/mcp.md).
-- NULL for grants that named none, which the gateway as a whole accepts.
ALTER TABLE tokens ADD COLUMN resource TEXT;
ALTER TABLE codes ADD COLUMN resource TEXT;
