-- Refresh tokens no longer record the digest of the token they replaced: nothing read
-- it, and a rotation's retired record is kept (for reuse detection) until it expires.
ALTER TABLE refresh_tokens DROP COLUMN parent;
