import { expect } from 'chai';
import type { CallbackAttempt } from './notification-sender.js';
import { SAMPLE_VNFD, startTackerFixture, type TackerFixture } from './tacker-fixture.js';
import { startOAuth2TokenEndpoint } from './oauth2-token-endpoint.js';
import type { AffectedVnfcJson, NotificationJson, OpOccJson, ProblemJson, SubscriptionJson, VnfInstanceJson } from './tacker-json.js';

type Json = Record<string, unknown>;

const V2_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

async function subscribe(fixture: TackerFixture, extra: Json = {}): Promise<SubscriptionJson> {
  const answer = await fixture.call('POST', '/vnflcm/v2/subscriptions', { callbackUri: fixture.callback.url, ...extra });
  expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
  return answer.body as SubscriptionJson;
}

async function getInstance(fixture: TackerFixture, id: string): Promise<VnfInstanceJson> {
  return (await fixture.call('GET', `/vnflcm/v2/vnf_instances/${id}`)).body as VnfInstanceJson;
}

async function getOpOcc(fixture: TackerFixture, id: string): Promise<OpOccJson> {
  return (await fixture.call('GET', `/vnflcm/v2/vnf_lcm_op_occs/${id}`)).body as OpOccJson;
}

function changes(affected: AffectedVnfcJson[] | undefined): string[][] {
  return (affected ?? []).map((vnfc) => [vnfc.vduId, vnfc.changeType]);
}

async function createInstance(fixture: TackerFixture): Promise<string> {
  const answer = await fixture.call('POST', '/vnflcm/v2/vnf_instances', { vnfdId: SAMPLE_VNFD.vnfdId, vnfInstanceName: 'checkout-vnf' });
  expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
  return (answer.body as VnfInstanceJson).id;
}

/** Runs an LCM operation to its end and returns the occurrence id. */
async function operate(fixture: TackerFixture, path: string, body: Json, state: 'COMPLETED' | 'FAILED_TEMP' | 'ROLLED_BACK' = 'COMPLETED'): Promise<string> {
  const answer = await fixture.call('POST', path, body);
  expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
  const location = answer.headers.get('location') ?? '';
  const occId = location.split('/').pop() ?? '';
  expect(location).to.equal(`${fixture.sim.url}/vnflcm/v2/vnf_lcm_op_occs/${occId}`);
  await fixture.sim.waitForOpOcc(occId, state);
  await fixture.sim.settled();
  return occId;
}

function notificationsFor(fixture: TackerFixture, occId: string): NotificationJson[] {
  return (fixture.callback.notifications() as NotificationJson[]).filter((notification) => notification.vnfLcmOpOccId === occId);
}

function final(fixture: TackerFixture, occId: string): NotificationJson {
  const last = notificationsFor(fixture, occId).find((notification) => notification.notificationStatus === 'RESULT' && notification.operationState !== 'PROCESSING');
  expect(last, 'final notification').to.not.equal(undefined);
  return last as NotificationJson;
}

describe('Tacker simulator, v2 API', function () {
  let fixture: TackerFixture;

  beforeEach(async function () {
    fixture = await startTackerFixture();
  });

  afterEach(async function () {
    await fixture.stop();
  });

  describe('requests', function () {
    it('refuses requests without a valid X-Auth-Token, as keystonemiddleware does', async function () {
      const answer = await fixture.call('GET', '/vnflcm/v2/vnf_instances', undefined, { 'X-Auth-Token': 'forged' });
      expect(answer.status).to.equal(401);
      expect(answer.headers.get('www-authenticate')).to.match(/^Keystone uri=/);
    });

    it('requires the Version header on every v2 resource but api_versions', async function () {
      const missing = await fixture.call('GET', '/vnflcm/v2/vnf_instances', undefined, { Version: '' });
      expect(missing.body).to.deep.equal({ status: 400, detail: "'Version' HTTP header missing.", title: 'Bad Request' });
      const unsupported = await fixture.call('GET', '/vnflcm/v2/vnf_instances', undefined, { Version: '1.3.0' });
      expect(unsupported.status).to.equal(406);
      expect(unsupported.headers.get('content-type')).to.equal('application/problem+json');
      const versions = await fixture.call('GET', '/vnflcm/v2/api_versions', undefined, { Version: '' });
      expect(versions.body).to.deep.equal({ uriPrefix: '/vnflcm/v2', apiVersions: [{ version: '2.0.0', isDeprecated: false }] });
    });
  });

  describe('subscriptions', function () {
    it('tests the callback with a GET carrying Version and no body, then stores the subscription', async function () {
      const created = await subscribe(fixture);
      const [check] = fixture.callback.requests;
      expect(check?.method).to.equal('GET');
      expect(check?.body).to.equal('');
      expect(check?.headers.version).to.equal('2.0.0');
      expect(check?.headers.accept).to.equal('application/json');
      expect(check?.headers['content-type']).to.equal(undefined);
      expect(created).to.include({ callbackUri: fixture.callback.url, verbosity: 'FULL' });
      expect(created._links.self.href).to.equal(`${fixture.sim.url}/vnflcm/v2/subscriptions/${created.id}`);
    });

    it('refuses the subscription with 422 TestNotificationFailed when the callback does not answer 204', async function () {
      fixture.callback.respondWith(() => ({ status: 200, headers: { 'Content-Type': 'application/json' }, body: {} }));
      const answer = await fixture.call('POST', '/vnflcm/v2/subscriptions', { callbackUri: fixture.callback.url });
      expect(answer.status).to.equal(422);
      expect(answer.body).to.deep.equal({ status: 422, detail: "Can't get from notification callback Uri.", title: 'Unprocessable Entity' });
      expect(fixture.sim.subscriptions()).to.have.length(0);
    });

    it('answers 500 when the callback refuses without a Content-Type, as HttpClient.raise_sol_exception fails on it', async function () {
      fixture.callback.respondWith(() => ({ status: 404 }));
      const answer = await fixture.call('POST', '/vnflcm/v2/subscriptions', { callbackUri: fixture.callback.url });
      expect(answer.status).to.equal(500);
      expect(fixture.sim.subscriptions()).to.have.length(0);
    });

    it('accepts the same subscription twice', async function () {
      const first = await subscribe(fixture);
      const second = await subscribe(fixture);
      expect(first.id).to.not.equal(second.id);
      const listed = await fixture.call('GET', '/vnflcm/v2/subscriptions');
      expect(listed.body).to.have.length(2);
    });

    it('never shows the authentication it keeps', async function () {
      const created = await subscribe(fixture, { authentication: { authType: ['BASIC'], paramsBasic: { userName: 'tacker', password: 'pw' } } });
      expect(created).to.not.have.property('authentication');
      const shown = await fixture.call('GET', `/vnflcm/v2/subscriptions/${created.id}`);
      expect(shown.body).to.not.have.property('authentication');
    });

    it('refuses BASIC without paramsBasic', async function () {
      const answer = await fixture.call('POST', '/vnflcm/v2/subscriptions', { callbackUri: fixture.callback.url, authentication: { authType: ['BASIC'] } });
      expect(answer.status).to.equal(400);
      expect((answer.body as ProblemJson).detail).to.equal('ParmasBasic must be specified.');
    });
  });

  describe('LCM operations and notifications', function () {
    it('instantiates: STARTING, PROCESSING, COMPLETED with v2 headers and shapes, servers in the cloud', async function () {
      const subscription = await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      const params = { meshSidecar: { namespace: 'shop', workloadGroup: 'checkout' }, serverMetadata: { VDU2: { role: 'db' } } };
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple', additionalParams: params });

      // Tacker v2 posts each notification from its own thread, so arrival order is not guaranteed.
      const byState = (state: string): NotificationJson => notificationsFor(fixture, occId).find((notification) => notification.operationState === state) as NotificationJson;
      const notifications = [byState('STARTING'), byState('PROCESSING'), byState('COMPLETED')];
      expect(notifications.map((notification) => [notification.operationState, notification.notificationStatus])).to.deep.equal([
        ['STARTING', 'START'],
        ['PROCESSING', 'RESULT'],
        ['COMPLETED', 'RESULT'],
      ]);
      expect(notificationsFor(fixture, occId)).to.have.length(3);
      for (const notification of notifications) {
        expect(notification.timeStamp).to.match(V2_TIMESTAMP);
        expect(notification).to.include({ subscriptionId: subscription.id, vnfInstanceId: instanceId, operation: 'INSTANTIATE', isAutomaticInvocation: false, verbosity: 'FULL' });
        expect(notification._links?.vnfLcmOpOcc?.href).to.equal(`${fixture.sim.url}/vnflcm/v2/vnf_lcm_op_occs/${occId}`);
      }
      expect(notifications[0]).to.not.have.property('affectedVnfcs');
      expect(notifications[1]).to.not.have.property('affectedVnfcs');
      const affected = notifications[2]?.affectedVnfcs ?? [];
      expect(changes(affected)).to.have.deep.members([
        ['VDU1', 'ADDED'],
        ['VDU2', 'ADDED'],
      ]);

      const posts = fixture.callback.requests.filter((request) => request.method === 'POST');
      expect(posts.every((request) => request.headers['content-type'] === 'application/json' && request.headers.version === '2.0.0')).to.equal(true);
      expect(new Set(notifications.map((notification) => notification.id)).size).to.equal(3);

      const servers = fixture.cloud.listServers();
      expect(servers.map((server) => server.id)).to.have.members(affected.map((vnfc) => vnfc.computeResource.resourceId));
      const vdu1 = servers.find((server) => server.name === 'VDU1-0');
      expect(vdu1?.status).to.equal('ACTIVE');
      expect(vdu1?.metadata).to.deep.equal({ 'mesh.workloadGroup': 'checkout' });
      expect(servers.find((server) => server.name === 'VDU2-0')?.metadata).to.deep.equal({ role: 'db' });
      expect(Object.values(vdu1?.networks ?? {})[0]?.[0]).to.include({ version: 4, type: 'fixed' });

      const instance = await getInstance(fixture, instanceId);
      expect(instance.instantiationState).to.equal('INSTANTIATED');
      expect(instance.instantiatedVnfInfo?.scaleStatus).to.deep.equal([{ aspectId: 'VDU1_scale', scaleLevel: 0 }]);
      const resourceIds = (instance.instantiatedVnfInfo?.vnfcResourceInfo ?? []).map((vnfc) => vnfc.computeResource.resourceId);
      expect(resourceIds).to.have.members(servers.map((server) => server.id));
    });

    it('answers 202 before the conductor starts, and 409 to another operation while one runs', async function () {
      const instanceId = await createInstance(fixture);
      const release = fixture.vms.holdCreates();
      const answer = await fixture.call('POST', `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const occId = answer.headers.get('location')?.split('/').pop() ?? '';
      await fixture.sim.waitForOpOcc(occId, 'PROCESSING');
      expect((await getOpOcc(fixture, occId)).operationState).to.equal('PROCESSING');
      const second = await fixture.call('POST', `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      expect(second.status).to.equal(409);
      expect((second.body as ProblemJson).detail).to.equal(`Other LCM operation of vnfInstance ${instanceId} is in progress.`);
      release();
      await fixture.sim.waitForOpOcc(occId, 'COMPLETED');
    });

    it('leaves affectedVnfcs out of every notification with SHORT verbosity; the op occ still has them', async function () {
      await subscribe(fixture, { verbosity: 'SHORT' });
      const instanceId = await createInstance(fixture);
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple', additionalParams: { meshSidecar: { namespace: 'shop' } } });
      const completed = final(fixture, occId);
      expect(completed.verbosity).to.equal('SHORT');
      expect(completed).to.not.have.property('affectedVnfcs');
      const occ = await getOpOcc(fixture, occId);
      expect(occ.resourceChanges?.affectedVnfcs).to.have.length(2);
      expect(occ.operationParams).to.deep.equal({ flavourId: 'simple', additionalParams: { meshSidecar: { namespace: 'shop' } } });
      expect(occ.stateEnteredTime).to.match(V2_TIMESTAMP);
    });

    it('lists instances without instantiatedVnfInfo unless all_fields is asked for', async function () {
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const plain = (await fixture.call('GET', '/vnflcm/v2/vnf_instances')).body as VnfInstanceJson[];
      expect(plain[0]).to.not.have.property('instantiatedVnfInfo');
      const full = (await fixture.call('GET', '/vnflcm/v2/vnf_instances?all_fields')).body as VnfInstanceJson[];
      expect(full[0]).to.have.property('instantiatedVnfInfo');
      const filtered = (await fixture.call('GET', `/vnflcm/v2/vnf_lcm_op_occs?filter=(eq,vnfInstanceId,${instanceId})`)).body as OpOccJson[];
      expect(filtered).to.have.length(1);
      expect(filtered[0]).to.not.have.property('operationParams');
    });

    it('scales out by adding servers and in by removing the newest, reported ADDED and REMOVED', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const out = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/scale`, { type: 'SCALE_OUT', aspectId: 'VDU1_scale', numberOfSteps: 2 });
      expect(changes(final(fixture, out).affectedVnfcs)).to.deep.equal([
        ['VDU1', 'ADDED'],
        ['VDU1', 'ADDED'],
      ]);
      expect(fixture.cloud.listServers().map((server) => server.name)).to.have.members(['VDU1-0', 'VDU2-0', 'VDU1-1', 'VDU1-2']);

      const scaleIn = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/scale`, { type: 'SCALE_IN', aspectId: 'VDU1_scale' });
      const removed = final(fixture, scaleIn).affectedVnfcs ?? [];
      expect(changes(removed)).to.deep.equal([['VDU1', 'REMOVED']]);
      const newest = fixture.vms.created.find((vm) => vm.name === 'VDU1-2');
      expect(removed[0]?.computeResource.resourceId).to.equal(newest?.serverId);
      expect(fixture.cloud.getServer(newest?.serverId ?? '')).to.equal(undefined);
      const occ = await getOpOcc(fixture, scaleIn);
      expect(occ.operationParams).to.deep.equal({ type: 'SCALE_IN', aspectId: 'VDU1_scale', numberOfSteps: 1 });
    });

    it('refuses a scale beyond the aspect\'s levels', async function () {
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const answer = await fixture.call('POST', `/vnflcm/v2/vnf_instances/${instanceId}/scale`, { type: 'SCALE_IN', aspectId: 'VDU1_scale' });
      expect(answer.status).to.equal(400);
      expect((answer.body as ProblemJson).detail).to.equal("Invalid numberOfSteps '1'.");
    });

    it('heals a VNFC by replacing its server: the old one REMOVED, the new one ADDED', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const info = (await getInstance(fixture, instanceId)).instantiatedVnfInfo;
      const vnfcInfo = info?.vnfcInfo?.find((vnfc) => vnfc.vduId === 'VDU1');
      const oldServer = info?.vnfcResourceInfo?.find((vnfc) => vnfc.id === vnfcInfo?.vnfcResourceInfoId)?.computeResource.resourceId ?? '';
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/heal`, { vnfcInstanceId: [vnfcInfo?.id] });
      const affected = final(fixture, occId).affectedVnfcs ?? [];
      expect(changes(affected)).to.deep.equal([
        ['VDU1', 'REMOVED'],
        ['VDU1', 'ADDED'],
      ]);
      expect(affected[0]?.computeResource.resourceId).to.equal(oldServer);
      const newServer = affected[1]?.computeResource.resourceId ?? '';
      expect(fixture.cloud.getServer(oldServer)).to.equal(undefined);
      expect(fixture.cloud.getServer(newServer)?.name).to.equal('VDU1-0');
    });

    it('refuses to heal a vnfcInstanceId it does not know', async function () {
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const answer = await fixture.call('POST', `/vnflcm/v2/vnf_instances/${instanceId}/heal`, { vnfcInstanceId: ['VDU1-nope'] });
      expect(answer.status).to.equal(400);
      expect((answer.body as ProblemJson).detail).to.equal('vnfcInstanceId(VDU1-nope) does not exist.');
    });

    it('terminates: every server REMOVED, then the instance deleted with an identifier notification', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/terminate`, { terminationType: 'FORCEFUL' });
      expect(changes(final(fixture, occId).affectedVnfcs).map(([, changeType]) => changeType)).to.deep.equal(['REMOVED', 'REMOVED']);
      expect(fixture.cloud.listServers()).to.have.length(0);
      expect((await getInstance(fixture, instanceId)).instantiatedVnfInfo).to.deep.equal({ flavourId: 'simple', vnfState: 'STOPPED' });

      expect((await fixture.call('DELETE', `/vnflcm/v2/vnf_instances/${instanceId}`)).status).to.equal(204);
      await fixture.sim.settled();
      const types = fixture.callback.notifications().map((notification) => notification.notificationType);
      expect(types[0]).to.equal('VnfIdentifierCreationNotification');
      expect(types[types.length - 1]).to.equal('VnfIdentifierDeletionNotification');
    });

    it('ends FAILED_TEMP with ProblemDetails when the VmProvider fails, and holds further operations', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      fixture.vms.failNext();
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' }, 'FAILED_TEMP');
      const failed = final(fixture, occId);
      expect(failed.operationState).to.equal('FAILED_TEMP');
      expect(failed.error).to.deep.equal({ status: 422, detail: 'No valid host was found for VDU1-0', title: 'Stack create failed' });
      expect(failed).to.not.have.property('affectedVnfcs');
      const again = await fixture.call('POST', `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      expect(again.status).to.equal(409);
    });

    it('ends ROLLED_BACK when granting refuses an unknown flavour', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'huge' }, 'ROLLED_BACK');
      expect(notificationsFor(fixture, occId).map((notification) => notification.operationState)).to.have.members(['STARTING', 'ROLLED_BACK']);
      expect(final(fixture, occId).error).to.deep.equal({ status: 400, detail: 'FlavourId huge not found in the vnfd.', title: 'Bad Request' });
      expect(fixture.cloud.listServers()).to.have.length(0);
    });

    it('sends only what the filter asks for', async function () {
      await subscribe(fixture, { filter: { notificationTypes: ['VnfLcmOperationOccurrenceNotification'], operationTypes: ['INSTANTIATE'], operationStates: ['COMPLETED'] } });
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/scale`, { type: 'SCALE_OUT', aspectId: 'VDU1_scale' });
      const received = fixture.callback.notifications().map((notification) => [notification.operation, notification.operationState]);
      expect(received).to.deep.equal([['INSTANTIATE', 'COMPLETED']]);
    });

    it('loses what it sends while the plugin is down and never sends it again', async function () {
      await subscribe(fixture);
      const instanceId = await createInstance(fixture);
      await fixture.sim.settled();
      fixture.sim.suspendNotifications();
      const occId = await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      fixture.sim.resumeNotifications();
      await fixture.sim.settled();
      expect(notificationsFor(fixture, occId)).to.have.length(0);
      const lost = fixture.sim.deliveries().filter((delivery: CallbackAttempt) => delivery.body?.vnfLcmOpOccId === occId);
      expect(lost.map((delivery) => [delivery.attempt, delivery.status])).to.deep.equal([
        [1, undefined],
        [1, undefined],
        [1, undefined],
      ]);
    });

    it('sends nothing twice when the callback answers 500', async function () {
      await subscribe(fixture);
      fixture.callback.respondWith(() => ({ status: 500 }));
      const instanceId = await createInstance(fixture);
      await operate(fixture, `/vnflcm/v2/vnf_instances/${instanceId}/instantiate`, { flavourId: 'simple' });
      expect(fixture.sim.deliveries().map((delivery) => delivery.attempt)).to.deep.equal([1, 1, 1, 1]);
    });
  });

  describe('callback authentication', function () {
    it('sends BASIC credentials on the test GET and on every notification', async function () {
      await subscribe(fixture, { authentication: { authType: ['BASIC'], paramsBasic: { userName: 'tacker', password: 's3cret' } } });
      await createInstance(fixture);
      await fixture.sim.settled();
      const expected = `Basic ${Buffer.from('tacker:s3cret').toString('base64')}`;
      expect(fixture.callback.requests.map((request) => request.headers.authorization)).to.deep.equal([expected, expected]);
    });

    it('fetches an OAuth2 token for every request and sends it as a bearer token', async function () {
      const oauth = await startOAuth2TokenEndpoint({ clientId: 'tacker', clientSecret: 'client-secret' });
      try {
        const params = { clientId: 'tacker', clientPassword: 'client-secret', tokenEndpoint: oauth.tokenEndpoint };
        await subscribe(fixture, { authentication: { authType: ['OAUTH2_CLIENT_CREDENTIALS'], paramsOauth2ClientCredentials: params } });
        await createInstance(fixture);
        await fixture.sim.settled();
        const tokens = oauth.issuedTokens();
        expect(tokens).to.have.length(2);
        expect(tokens.every((token) => token.method === 'POST')).to.equal(true);
        expect(fixture.callback.requests.map((request) => request.headers.authorization)).to.deep.equal(tokens.map((token) => `Bearer ${token.accessToken}`));
      } finally {
        await oauth.close();
      }
    });

    it('sends nothing when no token can be had', async function () {
      const oauth = await startOAuth2TokenEndpoint({ clientId: 'tacker', clientSecret: 'client-secret' });
      try {
        const params = { clientId: 'tacker', clientPassword: 'wrong', tokenEndpoint: oauth.tokenEndpoint };
        const answer = await fixture.call('POST', '/vnflcm/v2/subscriptions', { callbackUri: fixture.callback.url, authentication: { authType: ['OAUTH2_CLIENT_CREDENTIALS'], paramsOauth2ClientCredentials: params } });
        expect(answer.status).to.equal(500);
        expect(fixture.callback.requests).to.have.length(0);
      } finally {
        await oauth.close();
      }
    });
  });
});
