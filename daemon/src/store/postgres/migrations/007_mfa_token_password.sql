-- A login waiting for its second factor remembers the password hash it was checked
-- against (its SHA-256), so that a password changed meanwhile ends it. The waiting
-- logins of the moment (they live five minutes) are dropped: they must log in again.
DELETE FROM mfa_tokens;
ALTER TABLE mfa_tokens ADD COLUMN password_digest BYTEA NOT NULL;
