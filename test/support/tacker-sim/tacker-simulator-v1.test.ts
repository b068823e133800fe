import { expect } from 'chai';
import type { Clock } from '../../../src/clock.js';
import { startOAuth2TokenEndpoint } from './oauth2-token-endpoint.js';
import { SAMPLE_VNFD, startTackerFixture, type TackerFixture } from './tacker-fixture.js';
import type { AffectedVnfcJson, NotificationJson, OpOccJson, SubscriptionJson, VnfInstanceJson } from './tacker-json.js';
import { realClock } from './tacker-time.js';

type Json = Record<string, unknown>;

/** Naive, microseconds or no fraction at all: datetime.utcnow().isoformat(). */
const V1_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$/;

/** The wall clock, with every wait it is asked for written down. */
class RecordingClock implements Clock {
  readonly sleeps: number[] = [];
  now(): number {
    return realClock.now();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return realClock.sleep(ms, signal);
  }
}

async function subscribe(fixture: TackerFixture, extra: Json = {}): Promise<SubscriptionJson> {
  const answer = await fixture.call('POST', '/vnflcm/v1/subscriptions', { callbackUri: fixture.callback.url, ...extra });
  expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
  return answer.body as SubscriptionJson;
}

async function getInstance(fixture: TackerFixture, id: string): Promise<VnfInstanceJson> {
  return (await fixture.call('GET', `/vnflcm/v1/vnf_instances/${id}`)).body as VnfInstanceJson;
}

async function getOpOcc(fixture: TackerFixture, id: string): Promise<OpOccJson> {
  return (await fixture.call('GET', `/vnflcm/v1/vnf_lcm_op_occs/${id}`)).body as OpOccJson;
}

function changes(affected: AffectedVnfcJson[] | undefined): string[][] {
  return (affected ?? []).map((vnfc) => [vnfc.vduId, vnfc.changeType]);
}

async function createInstance(fixture: TackerFixture): Promise<string> {
  const answer = await fixture.call('POST', '/vnflcm/v1/vnf_instances', { vnfdId: SAMPLE_VNFD.vnfdId });
  expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
  const id = (answer.body as VnfInstanceJson).id;
  expect(answer.headers.get('location')).to.equal(`/vnflcm/v1/vnf_instances/${id}`);
  return id;
}

async function operate(fixture: TackerFixture, path: string, body: Json, state: 'COMPLETED' | 'FAILED_TEMP' = 'COMPLETED'): Promise<{ occId: string; location: string }> {
  const answer = await fixture.call('POST', path, body);
  expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
  const location = answer.headers.get('location') ?? '';
  const occId = location.split('/').pop() ?? '';
  await fixture.sim.waitForOpOcc(occId, state);
  await fixture.sim.settled();
  return { occId, location };
}

function notificationsFor(fixture: TackerFixture, occId: string): NotificationJson[] {
  return (fixture.callback.notifications() as NotificationJson[]).filter((notification) => notification.vnfLcmOpOccId === occId);
}

function inState(fixture: TackerFixture, occId: string, state: string): NotificationJson {
  const found = notificationsFor(fixture, occId).find((notification) => notification.operationState === state);
  expect(found, `${state} notification`).to.not.equal(undefined);
  return found as NotificationJson;
}

describe('Tacker simulator, v1 API', function () {
  let fixture: TackerFixture;
  let clock: RecordingClock;

  beforeEach(async function () {
    clock = new RecordingClock();
    fixture = await startTackerFixture({ clock, timing: { v1RetryWaitMs: 20, v1RetryTimeoutMs: 300 } });
  });

  afterEach(async function () {
    await fixture.stop();
  });

  describe('subscriptions', function () {
    it('tests the callback with a GET whose body is {}, without Content-Type or Version', async function () {
      const created = await subscribe(fixture);
      const [check] = fixture.callback.requests;
      expect(check).to.include({ method: 'GET', body: '{}' });
      expect(check?.headers['content-type']).to.equal(undefined);
      expect(check?.headers.version).to.equal(undefined);
      expect(created).to.deep.equal({ id: created.id, callbackUri: fixture.callback.url, _links: { self: { href: `${fixture.sim.url}/vnflcm/v1/subscriptions/${created.id}` } } });
    });

    it('tries the callback retry_num times, waiting retry_wait after each failure, then answers 400', async function () {
      fixture.callback.respondWith(() => ({ status: 404 }));
      const answer = await fixture.call('POST', '/vnflcm/v1/subscriptions', { callbackUri: fixture.callback.url });
      expect(answer.status).to.equal(400);
      expect(answer.body).to.deep.equal({ title: 'Bad Request', detail: 'Failed to Test Notification', status: 400 });
      expect(fixture.callback.requests.map((request) => request.method)).to.deep.equal(['GET', 'GET', 'GET']);
      expect(clock.sleeps).to.deep.equal([20, 20, 20]);
      expect(fixture.sim.subscriptions()).to.have.length(0);
    });

    it('accepts a callback that answers 204 on the second try', async function () {
      fixture.callback.respondWith((_request, index) => ({ status: index === 0 ? 500 : 204 }));
      await subscribe(fixture);
      expect(fixture.callback.requests).to.have.length(2);
    });

    it('answers 303 See Other for a subscription it already has', async function () {
      const first = await subscribe(fixture, { filter: { operationTypes: ['INSTANTIATE', 'HEAL'] } });
      const again = await fixture.call('POST', '/vnflcm/v1/subscriptions', { callbackUri: fixture.callback.url, filter: { operationTypes: ['HEAL'] } });
      expect(again.status).to.equal(303);
      expect(again.headers.get('location')).to.equal(`${fixture.sim.url}/vnflcm/v1/subscriptions/${first.id}`);
      expect(fixture.sim.subscriptions()).to.have.length(1);
    });
  });

  describe('LCM operations and notifications', function () {
    it('instantiates with v1 shapes: naive timestamps, no Content-Type or Version, PROCESSING sent as START', async function () {
      const subscription = await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      const { occId, location } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple', additionalParams: { meshSidecar: { namespace: 'shop' } } });
      expect(location).to.equal(`/vnflcm/v1/vnf_lcm_op_occs/${occId}`);

      expect(inState(fixture, occId, 'STARTING').notificationStatus).to.equal('START');
      expect(inState(fixture, occId, 'PROCESSING').notificationStatus).to.equal('START');
      const completed = inState(fixture, occId, 'COMPLETED');
      expect(completed).to.include({ notificationStatus: 'RESULT', isAutomaticInvocation: false, subscriptionId: subscription.id, vnfInstanceId: instanceId });
      expect(changes(completed.affectedVnfcs)).to.have.deep.members([
        ['VDU1', 'ADDED'],
        ['VDU2', 'ADDED'],
      ]);
      expect(completed).to.deep.include({ affectedVirtualLinks: [], affectedVirtualStorages: [], changedExtConnectivity: [] });
      expect(completed._links).to.deep.equal({
        vnfInstance: { href: `/vnflcm/v1/vnf_instances/${instanceId}` },
        vnfLcmOpOcc: { href: `/vnflcm/v1/vnf_lcm_op_occs/${occId}` },
        subscription: { href: `${fixture.sim.url}/vnflcm/v1/subscriptions/${subscription.id}` },
      });
      for (const notification of notificationsFor(fixture, occId)) expect(notification.timeStamp).to.match(V1_TIMESTAMP);
      const posts = fixture.callback.requests.filter((request) => request.method === 'POST');
      expect(posts.some((request) => request.headers['content-type'] !== undefined || request.headers.version !== undefined)).to.equal(false);

      const occ = await getOpOcc(fixture, occId);
      expect(JSON.parse(occ.operationParams as string)).to.deep.equal({ flavourId: 'simple', additionalParams: { meshSidecar: { namespace: 'shop' } } });
      expect(occ.resourceChanges?.affectedVnfcs).to.have.length(2);
      const instance = await getInstance(fixture, instanceId);
      expect((instance.instantiatedVnfInfo?.vnfcResourceInfo ?? []).map((vnfc) => vnfc.computeResource.resourceId)).to.have.members(fixture.cloud.listServers().map((server) => server.id));
    });

    it('uses one notification id for every subscription', async function () {
      await subscribe(fixture);
      await subscribe(fixture, { filter: { operationTypes: ['INSTANTIATE'] } });
      const instanceId = await createInstance(fixture);
      const { occId } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const completed = notificationsFor(fixture, occId).filter((notification) => notification.operationState === 'COMPLETED');
      expect(completed).to.have.length(2);
      expect(completed[0]?.id).to.equal(completed[1]?.id);
      expect(completed[0]?.subscriptionId).to.not.equal(completed[1]?.subscriptionId);
    });

    it('retries a notification after a non-204 answer, waiting retry_wait in between', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await fixture.sim.settled();
      fixture.callback.respondWith((request) => ({ status: request.body.includes('"PROCESSING"') && !fixture.callback.requests.some((seen) => seen.body.includes('"PROCESSING"') && seen.status === 503) ? 503 : 204 }));
      const { occId } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const processing = fixture.sim.deliveries().filter((delivery) => delivery.body?.vnfLcmOpOccId === occId && delivery.body.operationState === 'PROCESSING');
      expect(processing.map((delivery) => [delivery.attempt, delivery.status])).to.deep.equal([
        [1, 503],
        [2, 204],
      ]);
      expect(clock.sleeps).to.deep.equal([20]);
    });

    it('retries a notification that times out, three times in all, then drops it', async function () {
      await subscribe(fixture, { filter: { notificationTypes: ['VnfIdentifierCreationNotification'] } });
      fixture.callback.respondWith(async () => {
        await new Promise((resolve) => setTimeout(resolve, 600));
        return { status: 204 };
      });
      await createInstance(fixture);
      await fixture.sim.settled();
      expect(fixture.sim.deliveries().map((delivery) => [delivery.attempt, delivery.status])).to.deep.equal([
        [1, undefined],
        [2, undefined],
        [3, undefined],
      ]);
      expect(fixture.sim.deliveries()[0]?.error).to.match(/timed out/);
    });

    it('drops a notification at once when the connection is refused', async function () {
      await subscribe(fixture);
      fixture.sim.suspendNotifications();
      await createInstance(fixture);
      await fixture.sim.settled();
      expect(fixture.sim.deliveries().map((delivery) => delivery.attempt)).to.deep.equal([1]);
    });

    it('reports a VmProvider failure as FAILED_TEMP with the error as plain text', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      fixture.vms.failNext();
      const { occId } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' }, 'FAILED_TEMP');
      const failed = inState(fixture, occId, 'FAILED_TEMP');
      expect(failed.error).to.equal('No valid host was found for VDU1-0');
      const occ = await getOpOcc(fixture, occId);
      expect(occ.error).to.deep.equal({ status: 500, detail: 'No valid host was found for VDU1-0' });
    });

    it('heals a VNFC named by its vnfcResourceInfo id and reports the new server MODIFIED under the same id', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const instance = await getInstance(fixture, instanceId);
      const vnfc = instance.instantiatedVnfInfo?.vnfcResourceInfo?.find((candidate) => candidate.vduId === 'VDU1');
      const { occId } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/heal`, { vnfcInstanceId: [vnfc?.id] });
      const affected = inState(fixture, occId, 'COMPLETED').affectedVnfcs ?? [];
      expect(affected).to.have.length(1);
      expect(affected[0]).to.include({ id: vnfc?.id, vduId: 'VDU1', changeType: 'MODIFIED' });
      expect(affected[0]?.computeResource.resourceId).to.not.equal(vnfc?.computeResource.resourceId);
      expect(fixture.cloud.getServer(vnfc?.computeResource.resourceId ?? '')).to.equal(undefined);
    });

    it('scales with absolute links, isAutomaticInvocation "False" and snake_case operationParams', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const { occId, location } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/scale`, { type: 'SCALE_OUT', aspectId: 'VDU1_scale' });
      expect(location).to.equal(`${fixture.sim.url}/vnflcm/v1/vnf_lcm_op_occs/${occId}`);
      const completed = inState(fixture, occId, 'COMPLETED');
      expect(completed.isAutomaticInvocation).to.equal('False');
      expect(changes(completed.affectedVnfcs)).to.deep.equal([['VDU1', 'ADDED']]);
      expect(completed).to.not.have.property('affectedVirtualLinks');
      const occ = await getOpOcc(fixture, occId);
      expect(JSON.parse(occ.operationParams as string)).to.deep.equal({ type: 'SCALE_OUT', aspect_id: 'VDU1_scale', number_of_steps: 1, additional_params: { is_reverse: 'False', is_auto: 'False' } });
    });

    it('terminates with every VNFC REMOVED and sends identifier notifications with `links`', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const { occId } = await operate(fixture, `/vnflcm/v1/vnf_instances/${instanceId}/terminate`, { terminationType: 'FORCEFUL' });
      expect(changes(inState(fixture, occId, 'COMPLETED').affectedVnfcs).map(([, changeType]) => changeType)).to.deep.equal(['REMOVED', 'REMOVED']);
      expect(fixture.cloud.listServers()).to.have.length(0);
      expect((await fixture.call('DELETE', `/vnflcm/v1/vnf_instances/${instanceId}`)).status).to.equal(204);
      await fixture.sim.settled();
      const identifiers = (fixture.callback.notifications() as NotificationJson[]).filter((notification) => notification.notificationType.startsWith('VnfIdentifier'));
      expect(identifiers.map((notification) => notification.links?.vnfInstance)).to.deep.equal([
        { href: `/vnflcm/v1/vnf_instances/${instanceId}` },
        'href:{apiRoot}/vnflcm/v1/vnf_instances/{vnfInstanceId}',
      ]);
      expect(identifiers.every((notification) => !('_links' in notification))).to.equal(true);
    });

    it('keeps v1 and v2 records apart', async function () {
      const instanceId = await createInstance(fixture);
      expect((await fixture.call('GET', `/vnflcm/v2/vnf_instances/${instanceId}`)).status).to.equal(404);
    });
  });

  describe('callback authentication', function () {
    it('sends BASIC credentials', async function () {
      await subscribe(fixture, { authentication: { authType: ['BASIC'], paramsBasic: { userName: 'tacker', password: 's3cret' } } });
      await createInstance(fixture);
      await fixture.sim.settled();
      const expected = `Basic ${Buffer.from('tacker:s3cret').toString('base64')}`;
      expect(fixture.callback.requests.map((request) => request.headers.authorization)).to.deep.equal([expected, expected]);
    });

    it('gets one OAuth2 token, with a GET, and reuses it for every request', async function () {
      const oauth = await startOAuth2TokenEndpoint({ clientId: 'tacker', clientSecret: 'client-secret', allowGetTokenRequests: true });
      try {
        const params = { clientId: 'tacker', clientPassword: 'client-secret', tokenEndpoint: oauth.tokenEndpoint };
        await subscribe(fixture, { authentication: { authType: ['OAUTH2_CLIENT_CREDENTIALS'], paramsOauth2ClientCredentials: params } });
        await createInstance(fixture);
        await fixture.sim.settled();
        const [token, ...others] = oauth.issuedTokens();
        expect(others).to.have.length(0);
        expect(token?.method).to.equal('GET');
        expect(fixture.callback.requests.map((request) => request.headers.authorization)).to.deep.equal([`Bearer ${token?.accessToken ?? ''}`, `Bearer ${token?.accessToken ?? ''}`]);
      } finally {
        await oauth.close();
      }
    });

    it('cannot subscribe with OAuth2 against a token endpoint that insists on POST', async function () {
      const oauth = await startOAuth2TokenEndpoint({ clientId: 'tacker', clientSecret: 'client-secret' });
      try {
        const params = { clientId: 'tacker', clientPassword: 'client-secret', tokenEndpoint: oauth.tokenEndpoint };
        const answer = await fixture.call('POST', '/vnflcm/v1/subscriptions', { callbackUri: fixture.callback.url, authentication: { authType: ['OAUTH2_CLIENT_CREDENTIALS'], paramsOauth2ClientCredentials: params } });
        expect(answer.status).to.equal(500);
        expect(oauth.tokenRequests().map((request) => [request.method, request.status])).to.deep.equal([['GET', 405]]);
        expect(fixture.callback.requests).to.have.length(0);
      } finally {
        await oauth.close();
      }
    });
  });
});
