// Interop check with panva's strict oauth4webapi client, run by the whole-process
// test `node::oauth4webapi_interop` against a live tesserad over HTTPS.
// Environment: TESSERA_ISSUER (the daemon's https:// issuer), CLIENT_ID,
// CLIENT_SECRET, USERNAME and PASSWORD (a user, for the password and refresh grants),
// and NODE_EXTRA_CA_CERTS (the test's certificate). Prints one line per step; exits
// non-zero on the first failure.
import * as oauth from "oauth4webapi";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const issuer = new URL(env("TESSERA_ISSUER"));
const client = { client_id: env("CLIENT_ID") };
const secret = env("CLIENT_SECRET");

const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: "oauth2" }),
);
console.log(`discovery: issuer ${as.issuer}`);

for (const [name, auth] of [
  ["client_secret_basic", oauth.ClientSecretBasic(secret)],
  ["client_secret_post", oauth.ClientSecretPost(secret)],
]) {
  const granted = await oauth.processClientCredentialsResponse(
    as,
    client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: "read" })),
  );
  if (granted.token_type !== "bearer" || !granted.access_token.startsWith("v4.public.")) {
    throw new Error(`${name}: unexpected token response ${JSON.stringify(granted)}`);
  }
  console.log(`client_credentials (${name}): scope ${granted.scope}`);

  const introspected = await oauth.processIntrospectionResponse(
    as,
    client,
    await oauth.introspectionRequest(as, client, auth, granted.access_token),
  );
  if (!introspected.active || introspected.token_use !== "access_token") {
    throw new Error(`${name}: introspection ${JSON.stringify(introspected)}`);
  }
  console.log(`introspection (${name}): active, token_type ${introspected.token_type}`);

  const login = await oauth.processGenericTokenEndpointResponse(
    as,
    client,
    await oauth.genericTokenEndpointRequest(
      as,
      client,
      auth,
      "password",
      new URLSearchParams({ username: env("USERNAME"), password: env("PASSWORD") }),
    ),
  );
  const refreshed = await oauth.processRefreshTokenResponse(
    as,
    client,
    await oauth.refreshTokenGrantRequest(as, client, auth, login.refresh_token),
  );
  if (!refreshed.refresh_token || refreshed.refresh_token === login.refresh_token) {
    throw new Error(`${name}: the refresh grant did not rotate the refresh token`);
  }
  console.log(`refresh_token grant (${name}): rotated`);

  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, refreshed.refresh_token));
  const revoked = await oauth.processIntrospectionResponse(
    as,
    client,
    await oauth.introspectionRequest(as, client, auth, refreshed.access_token),
  );
  if (revoked.active) throw new Error(`${name}: still active after revocation`);
  console.log(`revocation (${name}): the session's access token is inactive`);
}

try {
  await oauth.processClientCredentialsResponse(
    as,
    client,
    await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic("wrong"), new URLSearchParams()),
  );
  throw new Error("a wrong secret was accepted");
} catch (e) {
  // A 401 with WWW-Authenticate (RFC 6749 §5.2 for Basic) surfaces as a challenge.
  let error = e instanceof oauth.ResponseBodyError ? e.error : undefined;
  if (e instanceof oauth.WWWAuthenticateChallengeError && e.response.status === 401) {
    error = (await e.response.json()).error;
  }
  if (error !== "invalid_client") throw e;
  console.log("wrong secret: invalid_client");
}
console.log("oauth4webapi interop: ok");
