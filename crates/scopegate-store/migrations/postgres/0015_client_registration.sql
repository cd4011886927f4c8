-- How an app came to be (docs/mcp.md): NULL when the provider registered it,
-- 'dynamic' when it registered itself (RFC 7591), 'metadata' when its client id
-- is the URL of its Client ID Metadata Document.
ALTER TABLE apps ADD COLUMN registration TEXT;
