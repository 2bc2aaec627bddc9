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
//
// RFC 8705 (certificate-bound tokens): with TLS_CERT and TLS_KEY (the server's PEM files),
// MTLS_PORT and MTLS_CLIENT_CERT (a client's self-signed certificate, PEM), the same provider
// also answers over HTTPS on 127.0.0.1:MTLS_PORT, asking for client certificates; a third
// client, mtls-service, authenticates with that certificate (self_signed_tls_client_auth) and
// gets access tokens bound to it (cnf.x5t#S256). The issuer stays http://127.0.0.1:PORT.
// Prints "ready" once listening.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 4000);
const issuer = `http://127.0.0.1:${port}`;
const key = (type, options, alg) => ({
  ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid: `${alg.toLowerCase()}-1`,
});

const mtlsCert = process.env.MTLS_CLIENT_CERT && new crypto.X509Certificate(process.env.MTLS_CLIENT_CERT);
const mtlsClients = mtlsCert ? [{
  client_id: 'mtls-service',
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'self_signed_tls_client_auth',
  tls_client_certificate_bound_access_tokens: true,
  jwks: { keys: [{ ...mtlsCert.publicKey.export({ format: 'jwk' }), x5c: [mtlsCert.raw.toString('base64')] }] },
  scope: 'read:transactions write:transactions',
}] : [];

const provider = new Provider(issuer, {
  clients: [...mtlsClients, {
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
  clientAuthMethods: ['client_secret_post', 'client_secret_basic', 'self_signed_tls_client_auth'],
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
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      selfSignedTlsClientAuth: true,
      // The certificate of this request's TLS connection (none over plain HTTP).
      getCertificate: (ctx) => ctx.req.socket.getPeerX509Certificate?.(),
    },
  },
});

const listening = [new Promise((resolve) => provider.listen(port, '127.0.0.1', resolve))];
if (mtlsCert) {
  const tls = {
    cert: fs.readFileSync(process.env.TLS_CERT),
    key: fs.readFileSync(process.env.TLS_KEY),
    requestCert: true,
    // Self-signed client certificates: the client's registered certificate decides.
    rejectUnauthorized: false,
  };
  const server = https.createServer(tls, provider.callback());
  listening.push(new Promise((resolve) => server.listen(Number(process.env.MTLS_PORT), '127.0.0.1', resolve)));
}
Promise.all(listening).then(() => console.log('ready'));
