// A real OpenID provider on loopback for the black-box tests of upstream sign-in (node oidc-provider, pinned in
// package.json). One confidential client, accounts made up on the fly: signing in as `bob` with any password
// gives sub `bob` and email `bob@upstream.example`. The development interactions (plain HTML login and consent
// forms) are on: this provider is for tests only.
//
// Environment: OP_PORT (required), OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URI (required). Prints
// `ready <issuer>` on stdout once it listens on 127.0.0.1.

import Provider from 'oidc-provider';

const port = Number.parseInt(process.env.OP_PORT ?? '', 10);
const redirectUri = process.env.OP_REDIRECT_URI;
if (!Number.isInteger(port) || !redirectUri) {
  console.error('set OP_PORT and OP_REDIRECT_URI');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const emailDomain = process.env.OP_EMAIL_DOMAIN ?? 'upstream.example';

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OP_CLIENT_ID ?? 'uma-cedar',
    client_secret: process.env.OP_CLIENT_SECRET ?? 'a-test-only-secret-of-enough-length',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  // Claims asked by scope go into the ID token too (the relying party reads them from there).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['test-only-cookie-signing-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@${emailDomain}`,
          email_verified: true,
          name: id,
          preferred_username: id,
        };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
