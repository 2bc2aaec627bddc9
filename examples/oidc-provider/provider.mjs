// panva's oidc-provider (version 9) as a client-credentials issuer on loopback, for checking
// permiso's DPoP support against a real, OpenID-certified implementation.
//
//   node provider.mjs PORT
//
// Issuer http://127.0.0.1:PORT; one client, payment-service (client_secret_post), allowed
// read:transactions and write:transactions; access tokens are RFC 9068 JWTs (ES256) for the
// resource https://payments.example/ with audience "payments". DPoP is on (the default in
// version 9) and this issuer requires a DPoP nonce, so callers must answer use_dpop_nonce.
// Introspection (RFC 7662) and revocation (RFC 7009) are on: a second client, payments-api
// (client_secret_basic), is the resource server that introspects. The resources
// https://opaque.example/ (audience "payments") and https://other.example/ (audience
// "other-api") get opaque access tokens, which only introspection can judge.
// Prints "ready" once listening.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 4000);
const issuer = `http://127.0.0.1:${port}`;
const key = (type, options, alg) => ({
  ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid: `${alg.toLowerCase()}-1`,
});

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'payment-service',
    client_secret: process.env.PAYMENT_CLIENT_SECRET || 'payment-secret-for-the-oidc-provider-check',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
    scope: 'read:transactions write:transactions',
  }, {
    client_id: 'payments-api',
    client_secret: process.env.PAYMENTS_API_SECRET || 'payments-api-secret-for-the-oidc-provider-check',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [key('rsa', { modulusLength: 2048 }, 'RS256'), key('ec', { namedCurve: 'P-256' }, 'ES256')] },
  scopes: ['read:transactions', 'write:transactions'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://payments.example/',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const scope = 'read:transactions write:transactions';
        if (resource === 'https://opaque.example/') {
          return { scope, audience: 'payments', accessTokenFormat: 'opaque', accessTokenTTL: 600 };
        }
        if (resource === 'https://other.example/') {
          return { scope, audience: 'other-api', accessTokenFormat: 'opaque', accessTokenTTL: 600 };
        }
        return { scope, audience: 'payments', accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'ES256' } } };
      },
    },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
});

provider.listen(port, '127.0.0.1', () => console.log('ready'));
