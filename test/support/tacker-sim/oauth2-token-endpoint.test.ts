import { expect } from 'chai';
import { startOAuth2TokenEndpoint, type OAuth2TokenEndpoint } from './oauth2-token-endpoint.js';

const FORM = 'application/x-www-form-urlencoded';

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(user)}:${encodeURIComponent(password)}`).toString('base64')}`;
}

async function post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': FORM, ...headers }, body: new URLSearchParams(form).toString() });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

describe('OAuth2 token endpoint for the Tacker simulator', function () {
  let endpoint: OAuth2TokenEndpoint;
  let now: number;

  beforeEach(async function () {
    now = Date.UTC(2026, 4, 1, 10);
    endpoint = await startOAuth2TokenEndpoint({
      clientId: 'tacker client',
      clientSecret: 's3cret:+',
      expiresInSeconds: 600,
      introspectionClients: [{ clientId: 'vmsi', clientSecret: 'resource-secret' }],
      clock: { now: () => now, sleep: () => Promise.resolve() },
    });
  });

  afterEach(async function () {
    await endpoint.close();
  });

  it('issues a bearer token for client credentials sent as HTTP Basic (RFC 6749 §4.4)', async function () {
    const answer = await post(endpoint.tokenEndpoint, { grant_type: 'client_credentials' }, { Authorization: basic('tacker client', 's3cret:+') });
    expect(answer.status).to.equal(200);
    expect(answer.headers.get('cache-control')).to.equal('no-store');
    expect(answer.body).to.include({ token_type: 'Bearer', expires_in: 600 });
    expect(answer.body.access_token).to.equal(endpoint.issuedTokens()[0]?.accessToken);
  });

  it('accepts the credentials in the body too, but not both ways at once', async function () {
    const inBody = await post(endpoint.tokenEndpoint, { grant_type: 'client_credentials', client_id: 'tacker client', client_secret: 's3cret:+' });
    expect(inBody.status).to.equal(200);
    const both = await post(endpoint.tokenEndpoint, { grant_type: 'client_credentials', client_id: 'tacker client', client_secret: 's3cret:+' }, { Authorization: basic('tacker client', 's3cret:+') });
    expect(both.status).to.equal(400);
    expect(both.body.error).to.equal('invalid_request');
  });

  it('answers invalid_client with 401 and a Basic challenge for a wrong secret', async function () {
    const answer = await post(endpoint.tokenEndpoint, { grant_type: 'client_credentials' }, { Authorization: basic('tacker client', 'guess') });
    expect(answer.status).to.equal(401);
    expect(answer.headers.get('www-authenticate')).to.match(/^Basic /);
    expect(answer.body).to.deep.equal({ error: 'invalid_client' });
    expect(endpoint.issuedTokens()).to.have.length(0);
  });

  it('refuses other grant types and requests without a grant type', async function () {
    const auth = { Authorization: basic('tacker client', 's3cret:+') };
    expect((await post(endpoint.tokenEndpoint, { grant_type: 'password' }, auth)).body.error).to.equal('unsupported_grant_type');
    expect((await post(endpoint.tokenEndpoint, {}, auth)).body.error).to.equal('invalid_request');
  });

  it('refuses a GET token request unless told to accept Tacker v1\'s', async function () {
    const response = await fetch(`${endpoint.tokenEndpoint}?grant_type=client_credentials`, { headers: { Authorization: basic('tacker client', 's3cret:+') } });
    expect(response.status).to.equal(405);
    expect(endpoint.tokenRequests().map((request) => [request.method, request.status, request.error])).to.deep.equal([['GET', 405, 'invalid_request']]);
  });

  it('introspects tokens for an authenticated caller: active until they expire or are revoked (RFC 7662)', async function () {
    const issued = await post(endpoint.tokenEndpoint, { grant_type: 'client_credentials' }, { Authorization: basic('tacker client', 's3cret:+') });
    const token = String(issued.body.access_token);
    const caller = { Authorization: basic('vmsi', 'resource-secret') };
    const active = await post(endpoint.introspectionEndpoint, { token }, caller);
    expect(active.body).to.deep.include({ active: true, client_id: 'tacker client', token_type: 'Bearer' });
    expect(active.body.exp).to.equal(Math.floor(now / 1000) + 600);

    now += 601_000;
    expect((await post(endpoint.introspectionEndpoint, { token }, caller)).body).to.deep.equal({ active: false });
    expect((await post(endpoint.introspectionEndpoint, { token: 'unknown' }, caller)).body).to.deep.equal({ active: false });
  });

  it('makes a revoked token inactive and refuses unauthenticated introspection', async function () {
    const issued = await post(endpoint.tokenEndpoint, { grant_type: 'client_credentials' }, { Authorization: basic('tacker client', 's3cret:+') });
    const token = String(issued.body.access_token);
    endpoint.revoke(token);
    expect((await post(endpoint.introspectionEndpoint, { token }, { Authorization: basic('vmsi', 'resource-secret') })).body).to.deep.equal({ active: false });
    expect((await post(endpoint.introspectionEndpoint, { token })).status).to.equal(401);
  });
});
