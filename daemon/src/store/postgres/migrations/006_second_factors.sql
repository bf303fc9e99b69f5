-- Second factors: a user's TOTP secret (pending until confirmed), the last step a
-- code was accepted for, and the digests of the unused recovery codes; and the logins
-- waiting for their second factor.
CREATE TABLE mfa_factors (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    totp_secret BYTEA,
    totp_confirmed BOOL NOT NULL DEFAULT false,
    totp_created_at BIGINT NOT NULL DEFAULT 0,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    recovery_codes BYTEA[] NOT NULL DEFAULT '{}'
);
CREATE TABLE mfa_tokens (
    digest BYTEA PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    -- The scopes an API login asked for; NULL for the login page's.
    scopes TEXT[]
);
CREATE INDEX mfa_tokens_expiry ON mfa_tokens (expires_at);
