// A device without a browser, built on panva's openid-client (OpenID
// Certified): the device authorization grant (RFC 8628) as a command-line
// tool or a TV uses it, discovery from the issuer alone, then polling as
// the library does (honouring interval and slow_down) until a person
// decided. Driven by tests/tests/browser.rs, which plays the person:
//
//   stdout line 1: {"user_code": ..., "verification_uri": ..., "verification_uri_complete": ...}
//   stdout line 2: {"tokens": {...}, "refreshed": {...}}  or  {"error": ..., "error_description": ...}
//
// ISSUER, CLIENT_ID, CLIENT_SECRET (empty: a public client) and SCOPE come
// from the environment.
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, SCOPE } = process.env;
const execute = [];
// Plain http only to a loopback issuer, where the test's service listens.
if (['127.0.0.1', 'localhost'].includes(new URL(ISSUER).hostname)) execute.push(client.allowInsecureRequests);
const auth = CLIENT_SECRET ? client.ClientSecretBasic(CLIENT_SECRET) : client.None();
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, auth, { execute });

const started = await client.initiateDeviceAuthorization(config, { scope: SCOPE });
console.log(
  JSON.stringify({
    user_code: started.user_code,
    verification_uri: started.verification_uri,
    verification_uri_complete: started.verification_uri_complete,
    interval: started.interval,
    expires_in: started.expires_in,
  }),
);
try {
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  console.log(
    JSON.stringify({
      tokens: { access_token: tokens.access_token, scope: tokens.scope, has_refresh_token: Boolean(tokens.refresh_token) },
      refreshed: { access_token: refreshed.access_token, scope: refreshed.scope, rotated: refreshed.refresh_token !== tokens.refresh_token },
    }),
  );
} catch (e) {
  console.log(JSON.stringify({ error: e.error ?? e.code ?? String(e), error_description: e.error_description ?? e.message }));
}
