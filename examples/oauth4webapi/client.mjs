// A client no one at permiso wrote, following what a permiso-protected service says about
// itself: panva's oauth4webapi reads the service's RFC 9728 metadata, finds its authorization
// server there, gets a DPoP-bound token from it (client credentials), and calls the service
// with DPoP, retrying once when the service asks for its nonce (RFC 9449 §9).
//
//   node client.mjs RESOURCE_URL CLIENT_SECRET
//
// Prints what it saw, one `key=value` per line; exits non-zero on any error.
import * as oauth from 'oauth4webapi';

const [resourceUrl, clientSecret] = process.argv.slice(2);
// Everything runs on http://127.0.0.1 in the tests.
const insecure = { [oauth.allowInsecureRequests]: true };
const resource = new URL(resourceUrl);

// 1. RFC 9728: the service's metadata.
const rs = await oauth.processResourceDiscoveryResponse(resource, await oauth.resourceDiscoveryRequest(resource, insecure));
console.log(`resource=${rs.resource}`);
console.log(`authorization_server=${rs.authorization_servers[0]}`);
console.log(`dpop_bound_access_tokens_required=${rs.dpop_bound_access_tokens_required}`);

// 2. A call without a token: the challenge names the metadata document.
const api = new URL('/api/v1/transactions', resource);
const anonymous = await fetch(api);
const challenges = anonymous.headers.get('www-authenticate') ?? '';
console.log(`anonymous_status=${anonymous.status}`);
console.log(`challenge_resource_metadata=${/resource_metadata="([^"]+)"/.exec(challenges)?.[1]}`);

// 3. The authorization server the metadata names: a DPoP-bound token by client credentials.
const issuer = new URL(rs.authorization_servers[0]);
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
const client = { client_id: 'payment-service' };
const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
const once = async (label, request) => {
  try {
    return await request();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    console.log(`${label}_use_dpop_nonce=1`);
    return request();
  }
};
const tokens = await once('token', async () => oauth.processClientCredentialsResponse(
  as,
  client,
  await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost(clientSecret),
    { scope: 'read:transactions' }, { DPoP, ...insecure }),
));
console.log(`token_type=${tokens.token_type}`);

// 4. The call, with a proof: the service asks for its nonce first, then answers.
const response = await once('resource', () =>
  oauth.protectedResourceRequest(tokens.access_token, 'GET', api, undefined, undefined, { DPoP, ...insecure }));
console.log(`status=${response.status}`);
console.log(`body=${await response.text()}`);
