# OpenID Connect relying party built on Authlib (a second, independent library after
# tests/js/oidc.mjs), run by a whole-process test against a live tesserad over HTTPS:
# the authorization code flow with PKCE S256, nonce and state, the ID token checked
# with Authlib's CodeIDToken against the keys at jwks_uri (joserfc, RS256 or EdDSA),
# UserInfo, the refresh grant and the RP-initiated logout URL.
# Environment: TESSERA_ISSUER (the daemon's https:// issuer), CLIENT_ID, CLIENT_SECRET
# (empty or unset for a public client), REDIRECT_URI (registered for the client), and
# REQUESTS_CA_BUNDLE (the test's certificate: requests reads it; it ignores SSL_CERT_FILE).
# Protocol: the first stdout line is `Open <authorization URL>`; then one line is read
# from stdin, the full URL the browser was sent back to. After that it prints one line
# per step, then `Logout <end session URL>` and `authlib: ok`; it exits non-zero on the
# first failure. Runs in tests/py/.venv (tests/py/requirements.txt).
import os
import sys
import urllib.parse
import warnings

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

# joserfc warns that "EdDSA" is superseded by "Ed25519" (RFC 9864); it still verifies it.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

ISSUER = os.environ["TESSERA_ISSUER"]
CLIENT_ID = os.environ["CLIENT_ID"]
SECRET = os.environ.get("CLIENT_SECRET") or None
REDIRECT_URI = os.environ["REDIRECT_URI"]
ALGORITHMS = ["RS256", "EdDSA"]


def check(ok, what, detail=None):
    if not ok:
        sys.exit(f"{what}: {detail!r}")


def get_json(url, **kwargs):
    response = requests.get(url, timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


meta = get_json(ISSUER.rstrip("/") + "/.well-known/openid-configuration")
check(meta["issuer"] == ISSUER, "discovery: issuer", meta["issuer"])
check(meta.get("authorization_response_iss_parameter_supported") is True, "discovery: iss parameter", meta)
check("S256" in meta["code_challenge_methods_supported"], "discovery: S256", meta)


def id_token_claims(tokens, nonce=None):
    """The ID token's claims, after its signature, header and claims are checked."""
    keys = KeySet.import_key_set(get_json(meta["jwks_uri"]))
    token = jwt.decode(tokens["id_token"], keys, algorithms=ALGORITHMS)  # kid picks the key
    check(token.header.get("typ") == "JWT" and token.header.get("kid"), "ID token header", token.header)
    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"essential": True, "value": meta["issuer"]}, "aud": {"essential": True, "value": CLIENT_ID}},
        {"nonce": nonce, "client_id": CLIENT_ID, "access_token": tokens["access_token"]},
    )
    claims.validate(leeway=30)  # iss, sub, aud, exp, iat; nonce when given; auth_time, amr, azp, at_hash
    return token.header, claims


session = OAuth2Session(
    CLIENT_ID,
    SECRET,
    scope="openid profile email",
    redirect_uri=REDIRECT_URI,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic" if SECRET else "none",
)
verifier, nonce = generate_token(48), generate_token(24)
url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
print(f"Open {url}", flush=True)  # nothing else on stdout before the callback

callback = sys.stdin.readline().strip()
check(callback, "no callback URL on stdin")
print(f"discovery: issuer {meta['issuer']}, id token algs {meta['id_token_signing_alg_values_supported']}")
back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
check("error" not in back, "authorization error", back)
check(back.get("iss") == meta["issuer"], "callback: iss (RFC 9207)", back)  # Authlib does not check it

# Authlib checks state here and sends redirect_uri, the code and the PKCE verifier.
tokens = session.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
check(tokens["token_type"].lower() == "bearer", "token_type", tokens["token_type"])
check(tokens["access_token"].startswith("v4.public."), "access token is not PASETO v4.public", tokens["access_token"])
header, claims = id_token_claims(tokens, nonce)
print(f"authorization code grant: {header['alg']} ID token, kid {header['kid']}, scope {tokens['scope']}")
check(isinstance(claims.get("auth_time"), int) and claims.get("sid") and "pwd" in claims.get("amr", []), "auth_time/sid/amr", claims)
check(claims.get("preferred_username") and claims.get("name"), "profile claims", claims)
check(claims.get("email") and isinstance(claims.get("email_verified"), bool), "email claims", claims)
print(f"id token: sub {claims['sub']}, preferred_username {claims['preferred_username']}, email {claims['email']}")

userinfo = session.get(meta["userinfo_endpoint"], timeout=30)  # Authorization: Bearer <access token>
userinfo.raise_for_status()
userinfo = userinfo.json()
check(userinfo["sub"] == claims["sub"], "userinfo sub", userinfo)
check(userinfo.get("preferred_username") == claims["preferred_username"] and userinfo.get("email") == claims["email"], "userinfo", userinfo)
print(f"userinfo: sub {userinfo['sub']} matches")

refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=tokens["refresh_token"])
check("id_token" in refreshed, "no ID token from the refresh grant", list(refreshed))
_, again = id_token_claims(refreshed)
for name in ("sub", "sid", "auth_time", "aud"):
    check(again.get(name) == claims[name], f"refreshed {name}", dict(again))
check("nonce" not in again, "refreshed ID token carries a nonce", dict(again))
print("refresh token grant: new ID token, same sub, sid and auth_time, no nonce")

logout = meta["end_session_endpoint"] + "?" + urllib.parse.urlencode({
    "id_token_hint": refreshed["id_token"],
    "post_logout_redirect_uri": REDIRECT_URI,
    "state": generate_token(16),
    "client_id": CLIENT_ID,
})
print(f"Logout {logout}")
print("authlib: ok")
