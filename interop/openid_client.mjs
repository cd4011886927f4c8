// npm openid-client (v6) against a running scopegate: RFC 8414 metadata
// discovery, client credentials, introspection and revocation, as its
// documentation shows them. Run by .ci/interop.sh.
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, SCOPE.
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, SCOPE } = process.env;

function check(what, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok ? '' : `: ${JSON.stringify(detail)}`}`);
  if (!ok) process.exit(1);
}

// An OAuth 2.0 server (RFC 8414), not an OpenID provider: `algorithm: 'oauth2'`.
// scopegate here listens on plain http on loopback.
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined, {
  algorithm: 'oauth2',
  execute: [client.allowInsecureRequests],
});
check('openid-client: discovery', config.serverMetadata().issuer === ISSUER, config.serverMetadata());

const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE });
check('openid-client: client credentials', tokens.token_type === 'bearer' && tokens.scope === SCOPE, tokens);

const seen = await client.tokenIntrospection(config, tokens.access_token);
check('openid-client: introspection says active', seen.active === true && seen.client_id === CLIENT_ID, seen);

await client.tokenRevocation(config, tokens.access_token);
const after = await client.tokenIntrospection(config, tokens.access_token);
check('openid-client: a revoked token introspects as inactive', after.active === false, after);
console.log('openid-client: all passed');
