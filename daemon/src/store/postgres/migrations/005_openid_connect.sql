-- OpenID Connect. Signing keys gain their kind: the existing keys sign PASETO
-- access tokens, and the ID-token keys (RS256, EdDSA) are made at the next start;
-- one key of each kind is active.
ALTER TABLE signing_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'paseto';
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (kind) WHERE retired_at IS NULL;
-- How a client's ID tokens are signed (its id_token_signed_response_alg).
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
-- A code keeps the authorization request's nonce and when the person signed in.
ALTER TABLE codes ADD COLUMN nonce TEXT;
ALTER TABLE codes ADD COLUMN auth_time BIGINT NOT NULL DEFAULT 0;
-- An app session opened by the authorization code flow names the browser sign-in
-- behind it, for its refreshed ID tokens.
ALTER TABLE sessions ADD COLUMN browser_session UUID;
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
