// A real OpenID Connect provider (panva's oidc-provider, from npm) for the
// tests and the how-to of upstream sign-in (docs/users.md). Its users are
// read from ACCOUNTS (a JSON file, read again at every sign-in, so a test
// can change a user's groups "upstream"):
//   { "next": "ana", "users": { "ana": { "preferred_username": "ana", "groups": ["store-admins"] } } }
// `next` is who signs in at the next visit (this provider asks no password:
// it stands in for the company's login page). `"next": "!deny"` answers
// the sign-in with error=access_denied. `"tamper": MODE` makes the token
// endpoint answer with a forged ID token (validly signed unless MODE says
// otherwise): aud, nonce, iss, exp, skew (expired 30 s ago: within the
// relying party's leeway), azp, none (alg none), signature (a
// changed payload under the old signature), hs256 (signed with the client
// secret), for the relying party to refuse.
//
// Usage: OIDC_PROVIDER=<…/node_modules/oidc-provider/lib/index.js> \
//   PORT=9000 REDIRECT_URI=http://127.0.0.1:8080/oauth2/idp/corp/callback \
//   CLIENT_SECRET=… ACCOUNTS=accounts.json node interop/oidc_op.mjs
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER).href);
const PORT = Number(process.env.PORT || 9000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const accounts = () => JSON.parse(readFileSync(process.env.ACCOUNTS, 'utf8'));
// Our own signing key, so that forged ID tokens can be signed validly.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
// A new key (and key id) at every start: a restart is a key rotation.
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `key-${Date.now()}`, use: 'sig', alg: 'ES256' };

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: process.env.CLIENT_ID || 'scopegate',
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [signingKey] },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  // Claims in the ID token itself, as Keycloak and Okta do; with
  // CLAIMS_AT=userinfo only `sub` is, and the rest is at the userinfo endpoint.
  conformIdTokenClaims: process.env.CLAIMS_AT === 'userinfo',
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  findAccount: async (ctx, id) => {
    const user = accounts().users[id];
    if (!user) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...user }) };
  },
  cookies: { keys: ['test-only-cookie-key'] },
  ttl: { AccessToken: 600, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

// The login page: signs in `next` at once, and gives consent for what was asked.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const who = accounts().next;
  let result;
  if (who === '!deny') {
    result = { error: 'access_denied', error_description: 'the user said no' };
  } else if (details.prompt.name === 'login') {
    result = { login: { accountId: who } };
  } else {
    const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function forge(idToken, mode) {
  const [h, p, sig] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'aud') payload.aud = 'someone-else';
  if (mode === 'nonce') payload.nonce = 'not-the-nonce';
  if (mode === 'iss') payload.iss = 'http://evil.example';
  if (mode === 'exp') Object.assign(payload, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'skew') Object.assign(payload, { iat: now - 600, exp: now - 30 });
  if (mode === 'azp') Object.assign(payload, { aud: [payload.aud, 'other'], azp: 'other' });
  if (mode === 'signature') { payload.sub = 'someone-else'; return `${h}.${b64(payload)}.${sig}`; }
  if (mode === 'none') return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
  if (mode === 'hs256') {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
    return `${input}.${createHmac('sha256', process.env.CLIENT_SECRET).update(input).digest('base64url')}`;
  }
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
// Forged ID tokens at the token endpoint, when asked for.
provider.use(async (ctx, next) => {
  await next();
  const mode = accounts().tamper;
  if (mode && ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: forge(ctx.body.id_token, mode) };
  }
});

provider.listen(PORT, '127.0.0.1', () => console.log(`listening on ${ISSUER}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
