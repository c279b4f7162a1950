// A relying party built on panva's openid-client (OpenID Certified), as a
// web application would use it: discovery from the issuer alone, the code
// flow with PKCE, state and nonce, the ID token validated by the library,
// UserInfo, and a refresh. Driven by tests/tests/openid_client.rs, which
// plays the person in the browser:
//
//   stdout line 1: {"authorization_url": ...}   (the test signs in there)
//   stdin  line 1: the callback URL the browser was sent back to
//   stdout line 2: {"claims": ..., "userinfo": ..., "refreshed": ...}
//
// ISSUER, CLIENT_ID, CLIENT_SECRET and REDIRECT_URI come from the environment.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
// The ID token's signature checked against the JWKS too (the library
// skips it by default for ID tokens from the token endpoint, as Core
// §3.1.3.7 allows); plain http to a loopback issuer only, where the test's
// service listens.
const execute = [client.enableNonRepudiationChecks];
if (new URL(ISSUER).hostname === '127.0.0.1') execute.push(client.allowInsecureRequests);
const options = { execute };
const config = await client.discovery(
  new URL(ISSUER),
  CLIENT_ID,
  undefined,
  client.ClientSecretBasic(CLIENT_SECRET),
  options,
);

const verifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  // Refresh tokens asked for as relying parties do (Core §11); the client is not registered for it.
  scope: 'openid profile email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  nonce,
  state,
});
console.log(JSON.stringify({ authorization_url: authorizationUrl.href }));

const lines = createInterface({ input: process.stdin });
const callback = await new Promise((resolve) => lines.once('line', resolve));
lines.close();

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedNonce: nonce,
  expectedState: state,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(
  JSON.stringify({
    claims,
    userinfo,
    scope: tokens.scope,
    refreshed: { scope: refreshed.scope, has_access_token: Boolean(refreshed.access_token), rotated: refreshed.refresh_token !== tokens.refresh_token },
  }),
);
