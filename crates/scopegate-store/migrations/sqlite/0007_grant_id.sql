-- One name for one idea: the grant every token and code belongs to is its
-- `grant_id` (the JWT claim `gid`), in the store as in the code.
ALTER TABLE tokens RENAME COLUMN family TO grant_id;
ALTER TABLE codes RENAME COLUMN family TO grant_id;
DROP INDEX tokens_family;
CREATE INDEX tokens_grant_id ON tokens (grant_id);
