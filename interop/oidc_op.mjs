// A real OpenID Connect provider (panva's oidc-provider, from npm) for the
// tests and the how-to of upstream sign-in (docs/users.md). Its users are
// read from ACCOUNTS (a JSON file, read again at every sign-in, so a test
// can change a user's groups "upstream"):
//   { "next": "ana", "users": { "ana": { "preferred_username": "ana", "groups": ["store-admins"] } } }
// `next` is who signs in at the next visit (this provider asks no password:
// it stands in for the company's login page). `"next": "!deny"` answers
// the sign-in with error=access_denied.
//
// Usage: OIDC_PROVIDER=<…/node_modules/oidc-provider/lib/index.js> \
//   PORT=9000 REDIRECT_URI=http://127.0.0.1:8080/oauth2/idp/corp/callback \
//   CLIENT_SECRET=… ACCOUNTS=accounts.json node interop/oidc_op.mjs
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER).href);
const PORT = Number(process.env.PORT || 9000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const accounts = () => JSON.parse(readFileSync(process.env.ACCOUNTS, 'utf8'));

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: process.env.CLIENT_ID || 'scopegate',
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  // Claims in the ID token itself (not only at userinfo), as Keycloak and Okta do.
  conformIdTokenClaims: false,
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

provider.listen(PORT, '127.0.0.1', () => console.log(`listening on ${ISSUER}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
