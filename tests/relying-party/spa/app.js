// A single-page app as its authors would write it with oidc-client-ts:
// sign-in by redirect (code flow, PKCE, state, nonce), the code redeemed
// from the browser across origins, UserInfo loaded, sign-out by RP-initiated
// logout back to this page. The test reads the outcome from data-state and
// #result. window.SPA_CONFIG (config.js) names the issuer and the client.
const config = window.SPA_CONFIG;
const manager = new oidc.UserManager({
  authority: config.authority,
  client_id: config.client_id,
  redirect_uri: location.origin + '/callback',
  post_logout_redirect_uri: location.origin + '/signed-out',
  response_type: 'code',
  scope: 'openid profile email',
  loadUserInfo: true,
  userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
});

function show(state, data) {
  document.getElementById('state').textContent = state;
  document.getElementById('result').textContent = JSON.stringify(data, null, 2);
  document.body.dataset.state = state;
}

async function main() {
  try {
    if (location.pathname === '/callback') {
      const user = await manager.signinRedirectCallback();
      show('signed-in', { profile: user.profile, scope: user.scope, has_access_token: Boolean(user.access_token) });
      document.getElementById('sign-out').hidden = false;
    } else if (location.pathname === '/signed-out') {
      const response = await manager.signoutRedirectCallback();
      show('signed-out', { url: location.href, state: response.userState });
    } else {
      show('ready', {});
      document.getElementById('sign-in').hidden = false;
    }
  } catch (e) {
    show('error', { message: String((e && e.message) || e) });
  }
}

document.getElementById('sign-in').onclick = () => manager.signinRedirect();
// With state, which the library checks when the browser comes back.
document.getElementById('sign-out').onclick = () => manager.signoutRedirect({ state: 'back-from-sign-out' });
main();
