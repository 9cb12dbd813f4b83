// The side-by-side peer of scripts/bench: node oidc-provider (an OpenID-certified server) configured for the
// same machine-to-machine work uma-cedar is measured on.
//
//   node tests/oidc-provider/bench-provider.mjs --port 18084
//
// It listens on 127.0.0.1 only and prints one line `listening on http://127.0.0.1:PORT` once it accepts
// connections. Two confidential clients (client_secret_basic), both allowed the client_credentials grant:
//   bench-opaque / bench-secret-0123456789   opaque access tokens (the default format)
//   bench-jwt    / bench-secret-0123456789   asks for resource=urn:uma-cedar:bench and gets an ES256-signed
//                                            JWT access token (RFC 9068) for that resource server
// Token introspection (RFC 7662) is enabled at /token/introspection; any client may introspect.
//
// Tokens live in the library's default in-memory adapter (an LRU of 1,000 entries, nothing written to disk),
// where uma-cedar commits every token to SQLite: keep that in mind when reading the figures side by side. Signing keys (ES256 for the
// access tokens, RS256 because the library wants one for ID tokens by default) are generated at start.

import { generateKeyPairSync } from 'node:crypto';
import { Provider, errors } from 'oidc-provider';

export const RESOURCE = 'urn:uma-cedar:bench';
const SECRET = 'bench-secret-0123456789';

function parsePort(argv) {
  const at = argv.indexOf('--port');
  const raw = at >= 0 ? argv[at + 1] : process.env.BENCH_PEER_PORT;
  const port = Number.parseInt(raw ?? '', 10);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error('usage: node bench-provider.mjs --port PORT (1..65535)');
  }
  return port;
}

function signingKeys() {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return [
    { ...ec, kid: 'bench-es256', alg: 'ES256', use: 'sig' },
    { ...rsa, kid: 'bench-rs256', alg: 'RS256', use: 'sig' },
  ];
}

const port = parsePort(process.argv.slice(2));
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: 'bench-opaque',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'bench-jwt',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: signingKeys() },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // Both clients are confidential (they authenticate): either may introspect any token of this provider.
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      // No resource parameter: an opaque token for the provider itself (the bench-opaque scenario).
      defaultResource: () => undefined,
      getResourceServerInfo: (_ctx, resourceIndicator, client) => {
        if (resourceIndicator !== RESOURCE || client.clientId !== 'bench-jwt') {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  scopes: ['api'],
  ttl: { ClientCredentials: 3600 },
};

const provider = new Provider(issuer, configuration);
// Errors the clients are told about are not server faults; keep the output to the one line the script waits for.
provider.on('server_error', (_ctx, err) => console.error(`server_error: ${err.message}`));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
