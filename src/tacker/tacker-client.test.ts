import { expect } from 'chai';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../clock.js';
import { AppError } from '../errors.js';
import { SAMPLE_VNFD, startTackerFixture, type TackerFixture } from '../../test/support/tacker-sim/tacker-fixture.js';
import { buildSubscriptionRequest } from './subscription-request.js';
import { TackerClient, type TackerClientOptions } from './tacker-client.js';
import { waitForLcmOpOcc } from './vnf-lifecycle.js';
import { buildEqFilter } from './vnf-lifecycle-filter.js';
import { rejection } from '../../test/support/app-error-assertions.js';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer: for timeouts. */
  hang?: boolean;
}

type Route = (request: Seen, origin: string) => Answer;

/** A tiny Tacker on 127.0.0.1:0: routes by "METHOD /path" (query excluded), records every request. */
async function startTacker(routes: Record<string, Route>): Promise<{ origin: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let origin = '';
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry: Seen = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(entry);
      const route = routes[`${entry.method} ${entry.url.split('?')[0] ?? ''}`];
      const answer = route === undefined ? { status: 404, body: { title: 'Not Found', status: 404, detail: 'no route' } } : route(entry, origin);
      if (answer.hang === true) return;
      const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      response.writeHead(answer.status, { ...(text === '' ? {} : { 'content-type': 'application/json' }), ...answer.headers }).end(text);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    seen,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const TOKEN = 'gAAAAABm-keystone-token-7f3e';
const OP_OCC = '6c3f2a1e-8b7d-4e5f-a9c0-b1d2e3f4a5b6';
const INSTANCE = 'e7a1c0b2-3f4d-4c6e-9a8b-1d2e3f4a5b6c';

function client(origin: string, overrides: Partial<TackerClientOptions> = {}): TackerClient {
  return new TackerClient({ baseUrl: origin, token: () => Promise.resolve(TOKEN), apiVersion: 'v2', ...overrides });
}

describe('TackerClient', () => {
  let tacker: Awaited<ReturnType<typeof startTacker>> | undefined;
  afterEach(async () => {
    await tacker?.close();
    tacker = undefined;
  });

  describe('requests', () => {
    it('reads a v2 op occ with the token and Version: 2.0.0', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, body: fixture('v2-lcm-op-occ-instantiate.json') }) });
      const opOcc = await client(tacker.origin).getLcmOpOcc(OP_OCC);
      expect(opOcc).to.deep.include({ id: OP_OCC, operation: 'INSTANTIATE', operationState: 'COMPLETED', startTime: '2026-05-01T10:00:00.000Z' });
      expect(opOcc.additionalParams?.meshSidecar).to.deep.include({ namespace: 'payments', workloadGroup: 'ledger' });
      expect(opOcc.affectedVnfcs).to.have.length(2);
      const [request] = tacker.seen;
      expect(request?.headers).to.deep.include({ 'x-auth-token': TOKEN, version: '2.0.0', accept: 'application/json' });
    });

    it('sends v1 requests under /vnflcm/v1 without a Version header, below a base path', async () => {
      tacker = await startTacker({ [`GET /nfv/vnflcm/v1/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, body: fixture('v1-lcm-op-occ-instantiate.json') }) });
      const opOcc = await client(`${tacker.origin}/nfv/`, { apiVersion: 'v1' }).getLcmOpOcc(OP_OCC);
      expect(opOcc.additionalParams).to.have.property('meshSidecar');
      expect(tacker.seen[0]?.headers).not.to.have.property('version');
      expect(tacker.seen[0]?.headers['x-auth-token']).to.equal(TOKEN);
    });

    it('asks the token provider for every request', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_instances/${INSTANCE}`]: () => ({ status: 200, body: fixture('v2-vnf-instance.json') }) });
      let minted = 0;
      const tackerClient = client(tacker.origin, { token: () => Promise.resolve(`token-${++minted}`) });
      await tackerClient.getVnfInstance(INSTANCE);
      await tackerClient.getVnfInstance(INSTANCE);
      expect(tacker.seen.map((request) => request.headers['x-auth-token'])).to.deep.equal(['token-1', 'token-2']);
    });
  });

  describe('VNF instances', () => {
    it('lists the servers of a v2 instance with their VDUs', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_instances/${INSTANCE}`]: () => ({ status: 200, body: fixture('v2-vnf-instance.json') }) });
      const instance = await client(tacker.origin).getVnfInstance(INSTANCE);
      expect(instance).to.deep.include({ id: INSTANCE, vnfdId: 'b1bb0ce7-ebca-4fa7-95ed-4840d7000000', instantiationState: 'INSTANTIATED', vnfInstanceName: 'ledger-vnf' });
      expect(instance.vnfcs.map((vnfc) => [vnfc.vduId, vnfc.serverId])).to.deep.equal([
        ['VDU2', '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'],
        ['VDU1', '8f0e1d2c-3b4a-4596-8877-665544332211'],
      ]);
    });

    it('skips a v1 VNFC whose server is being rebuilt', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v1/vnf_instances/${INSTANCE}`]: () => ({ status: 200, body: fixture('v1-vnf-instance.json') }) });
      const instance = await client(tacker.origin, { apiVersion: 'v1' }).getVnfInstance(INSTANCE);
      expect(instance.vnfcs).to.deep.equal([
        { vnfcId: 'f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9', vduId: 'VDU1', serverId: '8f0e1d2c-3b4a-4596-8877-665544332211', vimLevelResourceType: 'OS::Nova::Server' },
      ]);
    });
  });

  describe('listing op occs', () => {
    it('filters v2 by startTime on the server, asks for all fields and follows next links', async () => {
      const first = fixture('v2-lcm-op-occ-instantiate.json');
      const second = { ...fixture('v2-lcm-op-occ-instantiate.json'), id: 'second-op-occ', startTime: '2026-05-01T11:00:00Z' };
      tacker = await startTacker({
        'GET /vnflcm/v2/vnf_lcm_op_occs': (request, origin) =>
          request.url.includes('nextpage_opaque_marker')
            ? { status: 200, body: [second, { id: 'broken', operationState: 'COMPLETED' }] }
            : { status: 200, body: [first], headers: { link: `<${origin}/vnflcm/v2/vnf_lcm_op_occs?nextpage_opaque_marker=${OP_OCC}>;rel="next"` } },
      });
      const listing = await client(tacker.origin).listLcmOpOccs({ sinceIso: '2026-05-01T09:00:00Z' });
      expect(listing.opOccs.map((opOcc) => opOcc.id)).to.deep.equal([OP_OCC, 'second-op-occ']);
      expect(listing.rejected).to.have.length(1);
      expect(listing.rejected[0]?.id).to.equal('broken');
      const query = new URL(tacker.seen[0]?.url ?? '', tacker.origin).searchParams;
      expect(query.get('filter')).to.equal('(gte,startTime,2026-05-01T09:00:00.000Z)');
      expect(query.get('all_fields')).to.equal('true');
      expect(tacker.seen).to.have.length(2);
      expect(tacker.seen[1]?.headers['x-auth-token']).to.equal(TOKEN);
    });

    it('asks v1 for all records and drops those that started before sinceIso', async () => {
      const older = { ...fixture('v1-lcm-op-occ-instantiate.json'), startTime: '2026-04-30T23:59:59.999999' };
      tacker = await startTacker({ 'GET /vnflcm/v1/vnf_lcm_op_occs': () => ({ status: 200, body: [older, fixture('v1-lcm-op-occ-scale.json')] }) });
      const listing = await client(tacker.origin, { apiVersion: 'v1' }).listLcmOpOccs({ sinceIso: '2026-05-01T00:00:00Z' });
      expect(listing.opOccs.map((opOcc) => opOcc.operation)).to.deep.equal(['SCALE']);
      const query = new URL(tacker.seen[0]?.url ?? '', tacker.origin).searchParams;
      expect(query.get('all_records')).to.equal('yes');
      expect(query.get('all_fields')).to.equal('true');
      expect(query.has('filter')).to.equal(false);
    });

    it('does not follow a next link to another origin, which would carry the token away', async () => {
      tacker = await startTacker({ 'GET /vnflcm/v2/vnf_lcm_op_occs': () => ({ status: 200, body: [], headers: { link: '<http://elsewhere.example/steal>; rel="next"' } }) });
      const error = await rejection(client(tacker.origin).listLcmOpOccs());
      expect(error.code).to.equal('INTERNAL');
      expect(error.message).to.match(/another origin/);
      expect(tacker.seen).to.have.length(1);
    });

    it('refuses a sinceIso that is not a time', async () => {
      tacker = await startTacker({});
      expect((await rejection(client(tacker.origin).listLcmOpOccs({ sinceIso: 'last week' }))).code).to.equal('INVALID_REQUEST');
      expect(tacker.seen).to.have.length(0);
    });
  });

  describe('subscriptions', () => {
    const subscription = { id: 'a4b5c6d7-e8f9-4a0b-8c1d-2e3f4a5b6c7d', callbackUri: 'https://vmsi.example/tacker/v2/notifications', verbosity: 'FULL', filter: {} };

    it('creates one with a JSON body and reads the answer', async () => {
      tacker = await startTacker({ 'POST /vnflcm/v2/subscriptions': () => ({ status: 201, body: { ...subscription, _links: { self: { href: 'x' } } } }) });
      const request = buildSubscriptionRequest({ apiVersion: 'v2', callbackUri: subscription.callbackUri, auth: { type: 'none' } });
      const created = await client(tacker.origin).createSubscription(request);
      expect(created.created).to.equal(true);
      expect(created.subscription.id).to.equal(subscription.id);
      expect(JSON.parse(tacker.seen[0]?.body ?? '')).to.deep.equal(request);
      expect(tacker.seen[0]?.headers['content-type']).to.equal('application/json');
    });

    it('returns the existing one when v1 answers 303 See Other', async () => {
      tacker = await startTacker({
        'POST /vnflcm/v1/subscriptions': (_request, origin) => ({ status: 303, headers: { location: `${origin}/vnflcm/v1/subscriptions/${subscription.id}` } }),
        [`GET /vnflcm/v1/subscriptions/${subscription.id}`]: () => ({ status: 200, body: subscription }),
      });
      const request = buildSubscriptionRequest({ apiVersion: 'v1', callbackUri: subscription.callbackUri, auth: { type: 'none' } });
      const created = await client(tacker.origin, { apiVersion: 'v1' }).createSubscription(request);
      expect(created).to.deep.equal({ subscription, created: false });
      expect(tacker.seen.map((seen) => seen.method)).to.deep.equal(['POST', 'GET']);
    });

    it('lists and deletes them', async () => {
      tacker = await startTacker({
        'GET /vnflcm/v2/subscriptions': () => ({ status: 200, body: [subscription] }),
        [`DELETE /vnflcm/v2/subscriptions/${subscription.id}`]: () => ({ status: 204 }),
      });
      const tackerClient = client(tacker.origin);
      expect((await tackerClient.listSubscriptions()).map((item) => item.id)).to.deep.equal([subscription.id]);
      await tackerClient.deleteSubscription(subscription.id);
      expect(tacker.seen.map((seen) => seen.method)).to.deep.equal(['GET', 'DELETE']);
    });
  });

  describe('errors', () => {
    const statusCases: Array<[number, string, boolean]> = [
      [404, 'NOT_FOUND', false],
      [401, 'CREDENTIALS_UNAVAILABLE', true],
      [403, 'CREDENTIALS_UNAVAILABLE', false],
      [409, 'CONFLICT', false],
      [422, 'INVALID_REQUEST', false],
      [500, 'SERVICE_UNREACHABLE', true],
      [503, 'SERVICE_UNREACHABLE', true],
    ];
    for (const [status, code, retryable] of statusCases) {
      it(`maps HTTP ${status} on a GET to ${code}${retryable ? ', retryable' : ''}`, async () => {
        tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status, body: { title: 'Problem', status, detail: `Tacker says ${status}` } }) });
        const error = await rejection(client(tacker.origin).getLcmOpOcc(OP_OCC));
        expect({ code: error.code, retryable: error.retryable }).to.deep.equal({ code, retryable });
        expect(error.message).to.equal(`Tacker answered GET /vnflcm/v2/vnf_lcm_op_occs/{id} with HTTP ${status}: Tacker says ${status}.`);
      });
    }

    it('honours Retry-After on 429', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 429, headers: { 'retry-after': '7' } }) });
      const error = await rejection(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(error.details).to.deep.include({ status: 429, retryAfterMs: 7000 });
    });

    it('does not retry a POST Tacker may have acted on, but does one it cannot have', async () => {
      let status = 500;
      tacker = await startTacker({ 'POST /vnflcm/v2/subscriptions': () => ({ status }) });
      const request = buildSubscriptionRequest({ apiVersion: 'v2', callbackUri: 'https://vmsi.example/n', auth: { type: 'none' } });
      expect((await rejection(client(tacker.origin).createSubscription(request))).retryable).to.equal(false);
      status = 503;
      expect((await rejection(client(tacker.origin).createSubscription(request))).retryable).to.equal(true);
    });

    it('reports a refused connection as retryable SERVICE_UNREACHABLE', async () => {
      tacker = await startTacker({});
      const { origin } = tacker;
      await tacker.close();
      tacker = undefined;
      const error = await rejection(client(origin).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(error.details).to.deep.include({ reason: 'ECONNREFUSED' });
    });

    it('times out a request that gets no answer', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, hang: true }) });
      const error = await rejection(client(tacker.origin, { requestTimeoutMs: 100 }).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(error.details).to.deep.include({ reason: 'timeout' });
    });

    it('reports a body that is not JSON, or not the published shape, as an unexpected answer', async () => {
      tacker = await startTacker({
        [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, body: '<html>proxy error</html>' }),
        [`GET /vnflcm/v2/vnf_instances/${INSTANCE}`]: () => ({ status: 200, body: { id: INSTANCE } }),
      });
      const notJson = await rejection(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(notJson.code).to.equal('INTERNAL');
      const wrongShape = await rejection(client(tacker.origin).getVnfInstance(INSTANCE));
      expect(wrongShape.code).to.equal('INTERNAL');
      expect(wrongShape.problems.map((problem) => problem.path)).to.include.members(['vnfdId', 'instantiationState']);
    });

    it('does not follow redirects', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 302, headers: { location: 'http://elsewhere.example/' } }) });
      const error = await rejection(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(error.code).to.equal('INTERNAL');
      expect(tacker.seen).to.have.length(1);
    });

    it('reports a failing token provider as CREDENTIALS_UNAVAILABLE without calling Tacker', async () => {
      tacker = await startTacker({});
      const error = await rejection(client(tacker.origin, { token: () => Promise.reject(new Error('keystone down')) }).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect(tacker.seen).to.have.length(0);
    });

    it('never puts the token into an error', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 401, body: { status: 401, detail: 'The request you have made requires authentication.' } }) });
      const error = await rejection(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(JSON.stringify({ message: error.message, details: error.details })).not.to.include(TOKEN);
    });

    it('refuses a base URL that is not http or https', () => {
      expect(() => new TackerClient({ baseUrl: 'tacker:9890', token: () => Promise.resolve(TOKEN), apiVersion: 'v2' })).to.throw(AppError, /absolute http or https/);
    });
  });

  describe('VNF lifecycle against the Tacker simulator (v2)', () => {
    let sim: TackerFixture;
    beforeEach(async () => {
      sim = await startTackerFixture();
    });
    afterEach(async () => {
      await sim.stop();
    });

    function simClient(): TackerClient {
      return new TackerClient({ baseUrl: sim.sim.url, token: () => Promise.resolve(sim.token), apiVersion: 'v2' });
    }

    async function completed(tackerClient: TackerClient, vnfLcmOpOccId: string): Promise<void> {
      const opOcc = await waitForLcmOpOcc(tackerClient, vnfLcmOpOccId, { clock: systemClock, pollIntervalMs: 10, deadlineMs: Date.now() + 10_000 });
      expect(opOcc.operationState).to.equal('COMPLETED');
    }

    async function instantiated(tackerClient: TackerClient, vnfInstanceName: string): Promise<string> {
      const { id } = await tackerClient.createVnfInstance({ vnfdId: SAMPLE_VNFD.vnfdId, vnfInstanceName });
      await completed(tackerClient, (await tackerClient.instantiateVnf(id, { flavourId: 'simple' })).vnfLcmOpOccId);
      return id;
    }

    it('creates, instantiates, scales out and in, terminates and deletes an instance; a second delete reports false', async () => {
      const tackerClient = simClient();
      const created = await tackerClient.createVnfInstance({ vnfdId: SAMPLE_VNFD.vnfdId, vnfInstanceName: 'shop-catalog-vm', metadata: { owner: 'shop' } });
      expect(created).to.deep.include({ vnfdId: SAMPLE_VNFD.vnfdId, vnfInstanceName: 'shop-catalog-vm', instantiationState: 'NOT_INSTANTIATED', vnfcs: [], metadata: { owner: 'shop' } });

      const instantiate = await tackerClient.instantiateVnf(created.id, { flavourId: 'simple', additionalParams: { meshSidecar: { namespace: 'shop' } } });
      await completed(tackerClient, instantiate.vnfLcmOpOccId);
      const running = await tackerClient.getVnfInstance(created.id);
      expect(running.instantiationState).to.equal('INSTANTIATED');
      expect(running.vnfcs.map((vnfc) => vnfc.vduId).sort()).to.deep.equal(['VDU1', 'VDU2']);
      expect(running.vnfcs.map((vnfc) => vnfc.serverId)).to.have.members(sim.cloud.listServers().map((server) => server.id));

      await completed(tackerClient, (await tackerClient.scaleVnf(created.id, { type: 'SCALE_OUT', aspectId: 'VDU1_scale', numberOfSteps: 2 })).vnfLcmOpOccId);
      expect((await tackerClient.getVnfInstance(created.id)).vnfcs.filter((vnfc) => vnfc.vduId === 'VDU1')).to.have.length(3);
      await completed(tackerClient, (await tackerClient.scaleVnf(created.id, { type: 'SCALE_IN', aspectId: 'VDU1_scale' })).vnfLcmOpOccId);
      expect((await tackerClient.getVnfInstance(created.id)).vnfcs.filter((vnfc) => vnfc.vduId === 'VDU1')).to.have.length(2);

      await completed(tackerClient, (await tackerClient.terminateVnf(created.id, { terminationType: 'GRACEFUL', gracefulTerminationTimeout: 5 })).vnfLcmOpOccId);
      expect(await tackerClient.getVnfInstance(created.id)).to.deep.include({ instantiationState: 'NOT_INSTANTIATED', vnfcs: [] });
      expect(sim.cloud.listServers()).to.have.length(0);

      expect(await tackerClient.deleteVnfInstance(created.id)).to.equal(true);
      expect(await tackerClient.deleteVnfInstance(created.id)).to.equal(false);
      expect(sim.sim.vnfInstances()).to.have.length(0);
    });

    it('finds an instance by name with an eq filter, whatever characters the name holds', async () => {
      const tackerClient = simClient();
      const names = ['shop-catalog-vm', "shop, 'catalog' (v2)", 'shop', 'a;b(c)'];
      const ids = new Map<string, string>();
      for (const name of names) ids.set(name, (await tackerClient.createVnfInstance({ vnfdId: SAMPLE_VNFD.vnfdId, vnfInstanceName: name })).id);
      for (const name of names) {
        const found = await tackerClient.listVnfInstances({ filter: buildEqFilter('vnfInstanceName', name) });
        expect(found.map((instance) => instance.id), name).to.deep.equal([ids.get(name)]);
      }
      expect(await tackerClient.listVnfInstances({ filter: buildEqFilter('vnfInstanceName', 'nobody') })).to.deep.equal([]);
      expect(await tackerClient.listVnfInstances()).to.have.length(names.length);
    });

    it('lists instances with their VNFCs, which a plain list leaves out', async () => {
      const tackerClient = simClient();
      await instantiated(tackerClient, 'shop-catalog-vm');
      const [listed] = await tackerClient.listVnfInstances({ filter: buildEqFilter('vnfInstanceName', 'shop-catalog-vm') });
      expect(listed?.vnfcs).to.have.length(2);
    });

    it('answers instantiate on an instantiated instance with a retryable 409 carrying Tacker\'s detail', async () => {
      const tackerClient = simClient();
      const id = await instantiated(tackerClient, 'shop-catalog-vm');
      const error = await rejection(tackerClient.instantiateVnf(id, { flavourId: 'simple' }));
      expect(error).to.deep.include({ code: 'CONFLICT', retryable: true });
      expect(error.message).to.equal(`Tacker answered POST /vnflcm/v2/vnf_instances/{id}/instantiate with HTTP 409: VnfInstance ${id} is instantiated.`);
      expect(error.details).to.deep.include({ status: 409, message: `VnfInstance ${id} is instantiated.` });
      const deleting = await rejection(tackerClient.deleteVnfInstance(id));
      expect(deleting).to.deep.include({ code: 'CONFLICT', retryable: true });
    });

    it('answers an operation on a busy instance with a retryable 409, and starts nothing', async () => {
      const tackerClient = simClient();
      const { id } = await tackerClient.createVnfInstance({ vnfdId: SAMPLE_VNFD.vnfdId });
      const release = sim.vms.holdCreates();
      const first = await tackerClient.instantiateVnf(id, { flavourId: 'simple' });
      await sim.sim.waitForOpOcc(first.vnfLcmOpOccId, 'PROCESSING');
      const error = await rejection(tackerClient.instantiateVnf(id, { flavourId: 'simple' }));
      expect(error).to.deep.include({ code: 'CONFLICT', retryable: true });
      expect(error.details.message).to.equal(`Other LCM operation of vnfInstance ${id} is in progress.`);
      release();
      await completed(tackerClient, first.vnfLcmOpOccId);
      expect(sim.sim.opOccs()).to.have.length(1);
    });

    it('reports 422 and 400 as non-retryable refusals with the detail', async () => {
      const tackerClient = simClient();
      const unknown = await rejection(tackerClient.createVnfInstance({ vnfdId: 'no-such-vnfd' }));
      expect(unknown).to.deep.include({ code: 'INVALID_REQUEST', retryable: false });
      expect(unknown.message).to.match(/HTTP 422: VnfPackage of vnfdId no-such-vnfd is not found or not operational\.$/);
      const id = await instantiated(tackerClient, 'shop-catalog-vm');
      const badAspect = await rejection(tackerClient.scaleVnf(id, { type: 'SCALE_OUT', aspectId: 'nope' }));
      expect(badAspect).to.deep.include({ code: 'INVALID_REQUEST', retryable: false });
      expect(badAspect.details.message).to.equal("Invalid aspectId 'nope'.");
    });

    it('reports an operation on an unknown instance as NOT_FOUND', async () => {
      const error = await rejection(simClient().terminateVnf('d0e1f2a3-0000-4000-8000-000000000000', { terminationType: 'FORCEFUL' }));
      expect(error).to.deep.include({ code: 'NOT_FOUND', retryable: false });
    });
  });

  describe('VNF lifecycle edge cases', () => {
    it('refuses every lifecycle operation on a v1 client without calling Tacker', async () => {
      tacker = await startTacker({});
      const v1 = client(tacker.origin, { apiVersion: 'v1' });
      const calls: Array<Promise<unknown>> = [
        v1.createVnfInstance({ vnfdId: 'x' }),
        v1.listVnfInstances(),
        v1.instantiateVnf(INSTANCE, { flavourId: 'simple' }),
        v1.scaleVnf(INSTANCE, { type: 'SCALE_OUT', aspectId: 'a' }),
        v1.terminateVnf(INSTANCE, { terminationType: 'FORCEFUL' }),
        v1.deleteVnfInstance(INSTANCE),
      ];
      for (const call of calls) {
        const error = await rejection(call);
        expect(error).to.deep.include({ code: 'INVALID_CONFIG', retryable: false });
        expect(error.message).to.match(/needs Tacker's v2 API/);
      }
      expect(tacker.seen).to.have.length(0);
    });

    it('takes the op occ id from a Location on another origin, as Tacker\'s default [v2_vnfm] endpoint gives, without requesting it', async () => {
      tacker = await startTacker({ [`POST /vnflcm/v2/vnf_instances/${INSTANCE}/scale`]: () => ({ status: 202, headers: { location: `http://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}` } }) });
      expect(await client(tacker.origin).scaleVnf(INSTANCE, { type: 'SCALE_OUT', aspectId: 'a' })).to.deep.equal({ vnfLcmOpOccId: OP_OCC });
      expect(tacker.seen).to.have.length(1);
      expect(JSON.parse(tacker.seen[0]?.body ?? '')).to.deep.equal({ type: 'SCALE_OUT', aspectId: 'a' });
      expect(tacker.seen[0]?.headers).to.deep.include({ version: '2.0.0', 'content-type': 'application/json' });
    });

    it('reports a 202 without a usable Location as an unexpected answer', async () => {
      const answer: { headers?: Record<string, string> } = {};
      tacker = await startTacker({ [`POST /vnflcm/v2/vnf_instances/${INSTANCE}/terminate`]: () => ({ status: 202, ...answer }) });
      const missing = await rejection(client(tacker.origin).terminateVnf(INSTANCE, { terminationType: 'FORCEFUL' }));
      expect(missing).to.deep.include({ code: 'INTERNAL', retryable: false });
      answer.headers = { location: `${tacker.origin}/vnflcm/v2/vnf_instances/${INSTANCE}` };
      const elsewhere = await rejection(client(tacker.origin).terminateVnf(INSTANCE, { terminationType: 'FORCEFUL' }));
      expect(elsewhere.message).to.match(/names no LCM operation occurrence/);
    });

    it('never marks a lifecycle POST retryable when Tacker may have acted on it', async () => {
      let status = 500;
      tacker = await startTacker({
        'POST /vnflcm/v2/vnf_instances': () => ({ status }),
        [`POST /vnflcm/v2/vnf_instances/${INSTANCE}/instantiate`]: () => ({ status }),
      });
      expect((await rejection(client(tacker.origin).createVnfInstance({ vnfdId: 'x' }))).retryable).to.equal(false);
      expect((await rejection(client(tacker.origin).instantiateVnf(INSTANCE, { flavourId: 'simple' }))).retryable).to.equal(false);
      status = 503;
      expect((await rejection(client(tacker.origin).instantiateVnf(INSTANCE, { flavourId: 'simple' }))).retryable).to.equal(true);
    });

    it('times out a lifecycle POST as not retryable: Tacker may have started the operation', async () => {
      tacker = await startTacker({ [`POST /vnflcm/v2/vnf_instances/${INSTANCE}/instantiate`]: () => ({ status: 202, hang: true }) });
      const error = await rejection(client(tacker.origin, { requestTimeoutMs: 100 }).instantiateVnf(INSTANCE, { flavourId: 'simple' }));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: false });
    });

    it('follows next links when listing instances, with the filter and all_fields', async () => {
      const instance = fixture('v2-vnf-instance.json');
      tacker = await startTacker({
        'GET /vnflcm/v2/vnf_instances': (request, origin) =>
          request.url.includes('nextpage_opaque_marker')
            ? { status: 200, body: [{ ...instance, id: 'second' }] }
            : { status: 200, body: [instance], headers: { link: `<${origin}/vnflcm/v2/vnf_instances?nextpage_opaque_marker=${INSTANCE}>; rel="next"` } },
      });
      const filter = buildEqFilter('vnfInstanceName', "ledger, 'prod'");
      const listed = await client(tacker.origin).listVnfInstances({ filter });
      expect(listed.map((item) => item.id)).to.deep.equal([INSTANCE, 'second']);
      const query = new URL(tacker.seen[0]?.url ?? '', tacker.origin).searchParams;
      expect(query.get('filter')).to.equal("(eq,vnfInstanceName,'ledger, ''prod''')");
      expect(query.get('all_fields')).to.equal('true');
    });

    it('does not read a 404 that is not Tacker\'s ProblemDetails as a deleted instance', async () => {
      tacker = await startTacker({ [`DELETE /vnflcm/v2/vnf_instances/${INSTANCE}`]: () => ({ status: 404 }) });
      const error = await rejection(client(tacker.origin).deleteVnfInstance(INSTANCE));
      expect(error).to.deep.include({ code: 'NOT_FOUND', retryable: false });
    });

    it('reads the error ProblemDetails of an op occ', async () => {
      const failed = { ...fixture('v2-lcm-op-occ-instantiate.json'), operationState: 'FAILED_TEMP', error: { status: 422, title: 'Stack create failed', detail: 'No valid host' } };
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, body: failed }) });
      expect((await client(tacker.origin).getLcmOpOcc(OP_OCC)).error).to.deep.equal({ status: 422, title: 'Stack create failed', detail: 'No valid host' });
    });
  });
});
