import { expect } from 'chai';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { AppError } from '../errors.js';
import { ManualClock } from '../jobs/manual-clock.js';
import { createTestLogger, readRunLog } from '../../test/support/run-log.js';
import { CloudModel } from '../../test/support/openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../../test/support/openstack-sim/openstack-simulator.js';
import { KeystoneClient, authRequestBody, tokensUrlOf, type KeystoneAuth, type KeystoneClientOptions } from './keystone-client.js';
import { rejection } from '../../test/support/app-error-assertions.js';


/** A port nothing listens on: bound, read, closed. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/v3`;
}

describe('Keystone client', function () {
  let sim: OpenStackSimulator;
  let clock: ManualClock;

  beforeEach(async function () {
    clock = new ManualClock();
    sim = await startOpenStackSimulator({ cloud: new CloudModel(), clock, tackerUrl: 'http://tacker.example:9890' });
  });
  afterEach(async function () {
    await sim.close();
  });

  function client(auth: KeystoneAuth, options: Partial<KeystoneClientOptions> = {}): KeystoneClient {
    return new KeystoneClient({ authUrl: sim.keystoneUrl, auth, region: 'RegionOne', clock, ...options });
  }

  describe('authentication', function () {
    it('gets a scoped token with an application credential by id and by name, and with a password by name and by id', async function () {
      const { applicationCredentialById, applicationCredentialByName, passwordByName, passwordById } = sim.credentials;
      for (const auth of [applicationCredentialById, applicationCredentialByName, passwordByName, passwordById]) {
        const token = await client(auth).token();
        expect(token.authToken, auth.method).to.match(/^gAAAAA/);
        expect(token.projectId).to.equal('tenant-a');
        expect(Date.parse(token.expiresAt)).to.equal(clock.now() + 3_600_000);
        expect(token.catalog.map((entry) => entry.type)).to.include.members(['compute', 'network', 'nfv-orchestration']);
      }
      expect(sim.tokensIssued()).to.equal(4);
    });

    it('sends the request bodies of the Identity v3 reference', function () {
      expect(authRequestBody({ method: 'application_credential', id: 'ac-id', secret: 's3cret-value' })).to.deep.equal({
        auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-id', secret: 's3cret-value' } } },
      });
      expect(authRequestBody({ method: 'password', user: { name: 'vmsi', domain: { name: 'Default' } }, password: 'pw-value-1', project: { name: 'vnf', domain: { id: 'default' } } })).to.deep.equal({
        auth: {
          identity: { methods: ['password'], password: { user: { name: 'vmsi', domain: { name: 'Default' }, password: 'pw-value-1' } } },
          scope: { project: { name: 'vnf', domain: { id: 'default' } } },
        },
      });
    });

    it('accepts the auth URL with or without /v3, under a path prefix, and refuses v2.0', function () {
      expect(tokensUrlOf('https://keystone.example:5000/v3').href).to.equal('https://keystone.example:5000/v3/auth/tokens');
      expect(tokensUrlOf('https://keystone.example:5000/v3/').href).to.equal('https://keystone.example:5000/v3/auth/tokens');
      expect(tokensUrlOf('https://keystone.example:5000').href).to.equal('https://keystone.example:5000/v3/auth/tokens');
      expect(tokensUrlOf('https://cloud.example/identity').href).to.equal('https://cloud.example/identity/v3/auth/tokens');
      expect(() => tokensUrlOf('https://keystone.example:5000/v2.0')).to.throw(AppError, /v2\.0/);
      expect(() => tokensUrlOf('https://user:pw@keystone.example/v3')).to.throw(AppError, /credentials/);
    });

    it('reports refused credentials as CREDENTIALS_UNAVAILABLE, not retryable, with Keystone’s message and without the secret', async function () {
      const wrong = { ...sim.credentials.applicationCredentialById, secret: `${sim.credentials.applicationCredentialById.secret}x` };
      const error = await rejection(client(wrong).token());
      expect(error.code).to.equal('CREDENTIALS_UNAVAILABLE');
      expect(error.retryable).to.equal(false);
      expect(error.message).to.equal('Keystone refused POST /v3/auth/tokens with HTTP 401: The request you have made requires authentication.');
      expect(JSON.stringify({ message: error.message, details: error.details })).not.to.contain(wrong.secret);
      const scoped = await rejection(client({ ...sim.credentials.passwordByName, project: { id: 'tenant-other' } }).token());
      expect(scoped.code).to.equal('CREDENTIALS_UNAVAILABLE');
    });

    it('marks 5xx, 429 and connection failures retryable', async function () {
      sim.failNext({ service: 'identity', status: 503 });
      const unavailable = await rejection(client(sim.credentials.applicationCredentialById).token());
      expect(unavailable).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect(unavailable.message).to.equal('Keystone answered POST /v3/auth/tokens with HTTP 503: Injected failure 503.');
      sim.failNext({ service: 'identity', status: 429, headers: { 'retry-after': '2' } });
      expect((await rejection(client(sim.credentials.applicationCredentialById).token())).retryable).to.equal(true);
      const refused = await rejection(client(sim.credentials.applicationCredentialById, { authUrl: await closedPortUrl() }).token());
      expect(refused).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect(refused.details.reason).to.equal('ECONNREFUSED');
    });

    it('gives up on a request that outlives its timeout, retryable', async function () {
      sim.failNext({ service: 'identity', status: 0, stall: true });
      const stalled = await rejection(client(sim.credentials.applicationCredentialById, { requestTimeoutMs: 100 }).token());
      expect(stalled).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect(stalled.message).to.equal('Keystone did not answer POST /v3/auth/tokens (timeout).');
    });

    it('refuses an empty secret at construction', function () {
      expect(() => client({ ...sim.credentials.passwordById, password: '' })).to.throw(AppError, 'The Keystone password is empty.');
    });
  });

  describe('token cache', function () {
    it('reuses the token until the refresh margin before expiry, then fetches a new one', async function () {
      const keystone = client(sim.credentials.applicationCredentialById);
      const first = await keystone.token();
      await clock.advance(54 * 60_000);
      expect((await keystone.token()).authToken).to.equal(first.authToken);
      expect(sim.tokensIssued()).to.equal(1);
      await clock.advance(60_000);
      const second = await keystone.token();
      expect(second.authToken).not.to.equal(first.authToken);
      expect(sim.tokensIssued()).to.equal(2);
    });

    it('honours a configured margin and caps it at half the lifetime of short tokens', async function () {
      sim.setTokenLifetime(4 * 60_000);
      const keystone = client(sim.credentials.applicationCredentialById, { refreshMarginMs: 10 * 60_000 });
      await keystone.token();
      await clock.advance(2 * 60_000 - 1);
      await keystone.token();
      expect(sim.tokensIssued()).to.equal(1);
      await clock.advance(1);
      await keystone.token();
      expect(sim.tokensIssued()).to.equal(2);
    });

    it('keeps using a still-valid token when a refresh fails retryably, but not past its expiry', async function () {
      const logger = createTestLogger();
      const keystone = client(sim.credentials.applicationCredentialById, { logger });
      const first = await keystone.token();
      await clock.advance(56 * 60_000);
      sim.failNext({ service: 'identity', status: 503 });
      expect((await keystone.token()).authToken).to.equal(first.authToken);
      await clock.advance(4 * 60_000);
      sim.failNext({ service: 'identity', status: 503 });
      expect(await rejection(keystone.token())).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect((await keystone.token()).authToken).not.to.equal(first.authToken);
    });

    it('does not hide a refused refresh behind the old token', async function () {
      const keystone = client(sim.credentials.applicationCredentialById);
      await keystone.token();
      await clock.advance(56 * 60_000);
      sim.failNext({ service: 'identity', status: 401 });
      expect(await rejection(keystone.token())).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: false });
    });

    it('shares one request among concurrent callers', async function () {
      const keystone = client(sim.credentials.passwordByName);
      const tokens = await Promise.all(Array.from({ length: 8 }, () => keystone.token()));
      expect(new Set(tokens.map((token) => token.authToken)).size).to.equal(1);
      expect(sim.tokensIssued()).to.equal(1);
    });

    it('lets every waiting caller see a failure once, then tries again on the next call', async function () {
      const keystone = client(sim.credentials.passwordByName);
      sim.failNext({ service: 'identity', status: 502 });
      const failures = await Promise.all([rejection(keystone.token()), rejection(keystone.token())]);
      expect(failures.map((error) => error.retryable)).to.deep.equal([true, true]);
      expect(sim.requests.filter((request) => request.service === 'identity')).to.have.length(1);
      await keystone.token();
      expect(sim.tokensIssued()).to.equal(1);
    });

    it('ends only the aborted caller’s wait', async function () {
      const keystone = client(sim.credentials.passwordByName);
      const controller = new AbortController();
      const aborted = rejection(keystone.token({ signal: controller.signal }));
      const other = keystone.token();
      controller.abort(new AppError('STEP_TIMEOUT', 'Step resolve did not finish within 5 ms.', { retryable: true }));
      expect((await aborted).code).to.equal('STEP_TIMEOUT');
      expect((await other).authToken).to.match(/^gAAAAA/);
    });

    it('fetches a new token after a service refused the cached one', async function () {
      const keystone = client(sim.credentials.passwordByName);
      const first = await keystone.token();
      keystone.invalidate('some-other-token');
      expect((await keystone.token()).authToken).to.equal(first.authToken);
      keystone.invalidate(first.authToken);
      expect((await keystone.token()).authToken).not.to.equal(first.authToken);
    });
  });

  describe('service catalog', function () {
    it('finds compute, network and Tacker endpoints by interface and region', async function () {
      expect(await client(sim.credentials.passwordByName).endpoint('compute')).to.equal(`${sim.baseUrl}/RegionOne/public/compute/v2.1`);
      expect(await client(sim.credentials.passwordByName, { interface: 'internal', region: 'RegionTwo' }).endpoint('network')).to.equal(`${sim.baseUrl}/RegionTwo/internal/networking`);
      expect(await client(sim.credentials.passwordByName, { interface: 'admin' }).endpoint('nfv-orchestration')).to.equal('http://tacker.example:9890');
    });

    it('uses an override instead of the catalog', async function () {
      const keystone = client(sim.credentials.passwordByName, { endpointOverrides: { compute: 'https://nova.internal:8774/v2.1' } });
      expect(await keystone.endpoint('compute')).to.equal('https://nova.internal:8774/v2.1');
      expect(sim.tokensIssued()).to.equal(0);
    });

    it('explains what the catalog has when the region or interface does not exist', async function () {
      const error = await rejection(client(sim.credentials.passwordByName, { interface: 'admin', region: 'RegionTwo' }).endpoint('compute'));
      expect(error.code).to.equal('INVALID_CONFIG');
      expect(error.message).to.contain('has no compute endpoint with interface admin in region RegionTwo');
      expect(error.message).to.contain('compute (nova): public@RegionOne, internal@RegionOne, admin@RegionOne, public@RegionTwo, internal@RegionTwo');
      const unregioned = await rejection(client(sim.credentials.passwordByName, { region: undefined }).endpoint('compute'));
      expect(unregioned.message).to.contain('configure a region');
    });
  });

  describe('secrets', function () {
    it('never writes the password, the application credential secret or a token to the log', async function () {
      const logger = createTestLogger();
      const { passwordByName, applicationCredentialById } = sim.credentials;
      const keystone = client(passwordByName, { logger });
      const token = await keystone.token();
      const appKeystone = client(applicationCredentialById, { logger });
      const appToken = await appKeystone.token();
      const refused = await rejection(client({ ...passwordByName, project: { id: 'tenant-other' } }, { logger }).token());
      logger.error('Keystone authentication failed.', { error: refused, details: refused.details });
      logger.info('Diagnostics an operator might write.', { note: `token was ${token.authToken}, password ${passwordByName.password}`, auth: passwordByName });
      await new Promise((resolve) => setImmediate(resolve));
      const log = readRunLog();
      expect(log).to.contain('Keystone issued a token.');
      for (const secret of [passwordByName.password, applicationCredentialById.secret, token.authToken, appToken.authToken]) {
        expect(log).not.to.contain(secret);
      }
      expect(inspect(keystone, { depth: 5 })).not.to.contain(passwordByName.password).and.not.to.contain(token.authToken);
    });
  });
});
