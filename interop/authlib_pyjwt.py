"""Third-party clients against a running scopegate: authlib (client
credentials, the authorization code flow with PKCE, refresh, introspection,
revocation, and its RFC 9068 validator on scopegate's JWTs) and PyJWT (with
its JWKS client). No scopegate code here: what these libraries do by default
must work. Run by .ci/interop.sh; exits non-zero on the first failure.

Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LOGIN, PASSWORD,
SCOPE (what the user grants), ALG (the JWT algorithm expected).
"""

import html
import os
import re
import sys
from urllib.parse import parse_qs, urlparse

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.common.security import generate_token

ISSUER = os.environ["ISSUER"]
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
REDIRECT_URI = os.environ["REDIRECT_URI"]
SCOPE = os.environ["SCOPE"]
ALG = os.environ["ALG"]


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        sys.exit(1)


metadata = requests.get(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=10).json()
check("RFC 8414 metadata names the issuer", metadata["issuer"] == ISSUER, metadata)
jwks = requests.get(metadata["jwks_uri"], timeout=10).json()


class Validator(JWTBearerTokenValidator):
    def get_jwks(self):
        return jwks


def validate_rfc9068(token, scope):
    validator = Validator(issuer=ISSUER, resource_server=ISSUER)
    claims = validator.authenticate_token(token)
    validator.validate_token(claims, [scope], None)
    return claims


# --- client credentials (app token) ------------------------------------------
app = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=SCOPE)
token = app.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
access = token["access_token"]
check("authlib: client credentials", token["token_type"] == "Bearer" and token.get("scope") == SCOPE, token)
header = jwt.get_unverified_header(access)
check(f"the JWT is signed with {ALG}", header.get("alg") == ALG and header.get("typ") == "at+jwt", header)

claims = validate_rfc9068(access, SCOPE)
check("authlib: RFC 9068 validator accepts the app token", claims["client_id"] == CLIENT_ID, claims)

signing_key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(access)
decoded = jwt.decode(access, signing_key.key, algorithms=[ALG], audience=ISSUER, issuer=ISSUER)
check("PyJWT: PyJWKClient and decode", decoded["scope"] == SCOPE, decoded)

seen = app.introspect_token(metadata["introspection_endpoint"], token=access).json()
check("authlib: introspection says active", seen.get("active") is True, seen)

# --- authorization code with PKCE (user token) ------------------------------
verifier = generate_token(48)
user = OAuth2Session(
    CLIENT_ID, CLIENT_SECRET, scope=SCOPE, redirect_uri=REDIRECT_URI, code_challenge_method="S256"
)
url, state = user.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)

browser = requests.Session()


def form_fields(page):
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page):
        fields[html.unescape(name)] = html.unescape(value)
    return fields


def post(fields, **extra):
    return browser.post(metadata["authorization_endpoint"], data={**fields, **extra}, allow_redirects=False, timeout=10)


sign_in = browser.get(url, timeout=10)
check("the authorize URL shows the sign-in page", sign_in.status_code == 200, sign_in.status_code)
signed_in = post(form_fields(sign_in.text), action="login", login=os.environ["LOGIN"], password=os.environ["PASSWORD"])
check("sign-in redirects to the consent page", signed_in.status_code == 303, signed_in.text[:300])
consent = browser.get(ISSUER + signed_in.headers["location"], timeout=10)
check("the consent page lists the scope", SCOPE in consent.text, consent.text[:300])
approved = post(form_fields(consent.text), action="approve")
back = approved.headers.get("location", "")
check("approval redirects back with a code", back.startswith(REDIRECT_URI) and "code=" in back, back)
returned = parse_qs(urlparse(back).query)
check("the state comes back unchanged", returned.get("state") == [state], returned)

tokens = user.fetch_token(metadata["token_endpoint"], authorization_response=back, code_verifier=verifier)
check("authlib: code exchanged with PKCE", "refresh_token" in tokens and tokens.get("scope") == SCOPE, tokens)
claims = validate_rfc9068(tokens["access_token"], SCOPE)
check("authlib: RFC 9068 validator accepts the user token", claims["sub"] == os.environ["LOGIN"], claims)

refreshed = user.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
check(
    "authlib: refresh rotates the refresh token",
    refreshed["refresh_token"] != tokens["refresh_token"] and refreshed["access_token"] != tokens["access_token"],
    refreshed,
)
reused = requests.post(
    metadata["token_endpoint"],
    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    auth=(CLIENT_ID, CLIENT_SECRET),
    timeout=10,
)
check("a reused refresh token is invalid_grant", reused.status_code == 400 and reused.json()["error"] == "invalid_grant", reused.text)

# --- revocation ------------------------------------------------------------
revoked = app.revoke_token(metadata["revocation_endpoint"], token=access)
check("authlib: revocation", revoked.status_code == 200, revoked.status_code)
seen = app.introspect_token(metadata["introspection_endpoint"], token=access).json()
check("a revoked token introspects as inactive", seen == {"active": False}, seen)
print("authlib and PyJWT: all passed")
