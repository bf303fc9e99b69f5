// OpenID Connect relying party built on panva's strict openid-client (v6), run by a
// whole-process test against a live tesserad over HTTPS (no insecure switches): the
// authorization code flow with PKCE S256, nonce and state, the ID token (signature
// checked against jwks_uri), UserInfo, the refresh grant and RP-initiated logout.
// Environment: TESSERA_ISSUER (the daemon's https:// issuer), CLIENT_ID, CLIENT_SECRET
// (empty or unset for a public client), REDIRECT_URI (registered for the client),
// ID_TOKEN_ALG (optional: the alg the client was registered with, RS256 or EdDSA),
// and NODE_EXTRA_CA_CERTS (the test's certificate).
// Protocol: the first stdout line is `Open <authorization URL>`; then one line is read
// from stdin, the full URL the browser was sent back to. After that it prints one line
// per step, then `Logout <end session URL>` and `openid-client: ok`; it exits non-zero
// on the first failure.
import * as client from "openid-client";
import { decodeProtectedHeader } from "jose";
import { createInterface } from "node:readline";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const check = (ok, what, detail) => {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
};

try {
  const issuer = new URL(env("TESSERA_ISSUER"));
  const redirectUri = env("REDIRECT_URI");
  const secret = process.env.CLIENT_SECRET;
  const auth = secret ? client.ClientSecretBasic(secret) : client.None();
  const metadata = process.env.ID_TOKEN_ALG ? { id_token_signed_response_alg: process.env.ID_TOKEN_ALG } : {};
  // Discovery at {issuer}/.well-known/openid-configuration; the issuer must match.
  const config = await client.discovery(issuer, env("CLIENT_ID"), metadata, auth);
  // Verify the ID token's signature with the keys at jwks_uri (by default openid-client
  // trusts the TLS connection to the token endpoint instead, OIDC Core 3.1.3.7).
  client.enableNonRepudiationChecks(config);
  const server = config.serverMetadata();

  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid profile email",
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });
  check(server.authorization_response_iss_parameter_supported === true, "metadata: iss parameter", server);
  check(server.code_challenge_methods_supported?.includes("S256"), "metadata: S256", server);
  // Nothing else goes to stdout before the callback: a reader of the first line may
  // drop whatever else it buffered.
  console.log(`Open ${url.href}`);

  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const { value: callback, done } = await lines.next();
  if (done || !callback?.trim()) throw new Error("no callback URL on stdin");
  process.stdin.destroy();
  console.log(`discovery: issuer ${server.issuer}, id token algs ${server.id_token_signing_alg_values_supported}`);

  // Checks state, iss (required: the metadata says it is sent), the code, PKCE, nonce
  // and the ID token's iss, aud, exp, iat, sub and signature.
  const tokens = await client.authorizationCodeGrant(config, new URL(callback.trim()), {
    pkceCodeVerifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  check(tokens.token_type === "bearer", "token_type", tokens.token_type); // lower-cased by openid-client
  check(tokens.access_token.startsWith("v4.public."), "access token is not PASETO v4.public", tokens.access_token);
  check(tokens.refresh_token, "no refresh token", Object.keys(tokens));
  const header = decodeProtectedHeader(tokens.id_token);
  check(["RS256", "EdDSA"].includes(header.alg) && header.kid && header.typ === "JWT", "ID token header", header);
  if (process.env.ID_TOKEN_ALG) check(header.alg === process.env.ID_TOKEN_ALG, "ID token alg", header);
  console.log(`authorization code grant: ${header.alg} ID token, kid ${header.kid}, scope ${tokens.scope}`);

  const claims = tokens.claims();
  check(claims.nonce === nonce, "nonce", claims);
  check(claims.aud === config.clientMetadata().client_id, "aud", claims);
  check(typeof claims.auth_time === "number" && claims.sid && claims.amr?.includes("pwd"), "auth_time/sid/amr", claims);
  check(claims.preferred_username && claims.name, "profile claims", claims);
  check(claims.email && typeof claims.email_verified === "boolean", "email claims", claims);
  check(claims.at_hash === undefined, "unexpected at_hash", claims);
  console.log(`id token: sub ${claims.sub}, preferred_username ${claims.preferred_username}, email ${claims.email}`);

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub); // checks sub
  check(userinfo.preferred_username === claims.preferred_username && userinfo.email === claims.email, "userinfo", userinfo);
  console.log(`userinfo: sub ${userinfo.sub} matches`);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const again = refreshed.claims();
  check(again, "no ID token from the refresh grant", Object.keys(refreshed));
  for (const name of ["sub", "sid", "auth_time", "aud"]) check(again[name] === claims[name], `refreshed ${name}`, again);
  check(again.nonce === undefined, "refreshed ID token carries a nonce", again);
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "refresh token not rotated", {});
  console.log(`refresh token grant: new ID token, same sub, sid and auth_time, no nonce`);

  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: refreshed.id_token,
    post_logout_redirect_uri: redirectUri,
    state: client.randomState(),
  });
  console.log(`Logout ${logout.href}`);
  console.log("openid-client: ok");
} catch (e) {
  console.error(e);
  if (e?.cause) console.error("cause:", e.cause);
  process.exit(1);
}
