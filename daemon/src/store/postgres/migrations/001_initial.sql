-- Tessera's tables, version 1. Times are Unix seconds (BIGINT); digests are the
-- SHA-256 of the secrets the daemon hands out, never the secrets. Lower-cased keys
-- (username_key, email_key) are computed by the daemon, so uniqueness does not depend
-- on the database's collation. Only SQL that PostgreSQL and CockroachDB both accept.

CREATE TABLE users (
    id UUID PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    email_verified BOOL NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BOOL NOT NULL,
    created_at BIGINT NOT NULL,
    last_login BIGINT
);

CREATE TABLE sessions (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    kind TEXT NOT NULL,
    client_id TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, id);
-- A login counts the user's open sessions (at most 100 are kept): only those are read.
CREATE INDEX sessions_open_by_user ON sessions (user_id, id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    digest BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    parent TEXT,
    rotated_at BIGINT,
    client_id TEXT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE browser_cookies (
    digest BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX browser_cookies_by_session ON browser_cookies (session_id);

CREATE TABLE revoked_sessions (
    session_id UUID PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX revoked_sessions_by_until ON revoked_sessions (until);

CREATE TABLE barred_users (
    user_id UUID PRIMARY KEY,
    until BIGINT NOT NULL
);

CREATE TABLE denied_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX denied_tokens_by_expiry ON denied_tokens (expires_at);

CREATE TABLE api_tokens (
    digest BYTEA PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    secret_digest TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    redirect_uris TEXT[] NOT NULL,
    post_logout_redirect_uris TEXT[] NOT NULL,
    public BOOL NOT NULL,
    first_party BOOL NOT NULL
);

CREATE TABLE clients_removed (
    client_id TEXT PRIMARY KEY,
    removed_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
-- One active key, even when daemons start (or rotate) at the same moment.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE links (
    digest BYTEA PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX links_by_user ON links (user_id, kind);

CREATE TABLE codes (
    digest BYTEA PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT,
    scopes TEXT[] NOT NULL,
    user_id UUID NOT NULL,
    browser_session UUID NOT NULL,
    challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    session_id UUID
);

CREATE TABLE grants (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    subject TEXT,
    origin TEXT,
    detail TEXT
);

-- What every daemon's in-memory view must learn from the others: appended in the
-- transaction that made the change, read back by each daemon's poller.
CREATE TABLE changes (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    until BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes (at);
