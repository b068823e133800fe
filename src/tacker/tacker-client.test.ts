import { expect } from 'chai';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../errors.js';
import { buildSubscriptionRequest } from './subscription-request.js';
import { TackerClient, type TackerClientOptions } from './tacker-client.js';

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

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
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
      const error = await failure(client(tacker.origin).listLcmOpOccs());
      expect(error.code).to.equal('INTERNAL');
      expect(error.message).to.match(/another origin/);
      expect(tacker.seen).to.have.length(1);
    });

    it('refuses a sinceIso that is not a time', async () => {
      tacker = await startTacker({});
      expect((await failure(client(tacker.origin).listLcmOpOccs({ sinceIso: 'last week' }))).code).to.equal('INVALID_REQUEST');
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
        const error = await failure(client(tacker.origin).getLcmOpOcc(OP_OCC));
        expect({ code: error.code, retryable: error.retryable }).to.deep.equal({ code, retryable });
        expect(error.message).to.equal(`Tacker answered GET /vnflcm/v2/vnf_lcm_op_occs/{id} with HTTP ${status}: Tacker says ${status}.`);
      });
    }

    it('honours Retry-After on 429', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 429, headers: { 'retry-after': '7' } }) });
      const error = await failure(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(error.details).to.deep.include({ status: 429, retryAfterMs: 7000 });
    });

    it('does not retry a POST Tacker may have acted on, but does one it cannot have', async () => {
      let status = 500;
      tacker = await startTacker({ 'POST /vnflcm/v2/subscriptions': () => ({ status }) });
      const request = buildSubscriptionRequest({ apiVersion: 'v2', callbackUri: 'https://vmsi.example/n', auth: { type: 'none' } });
      expect((await failure(client(tacker.origin).createSubscription(request))).retryable).to.equal(false);
      status = 503;
      expect((await failure(client(tacker.origin).createSubscription(request))).retryable).to.equal(true);
    });

    it('reports a refused connection as retryable SERVICE_UNREACHABLE', async () => {
      tacker = await startTacker({});
      const { origin } = tacker;
      await tacker.close();
      tacker = undefined;
      const error = await failure(client(origin).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(error.details).to.deep.include({ reason: 'ECONNREFUSED' });
    });

    it('times out a request that gets no answer', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, hang: true }) });
      const error = await failure(client(tacker.origin, { requestTimeoutMs: 100 }).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(error.details).to.deep.include({ reason: 'timeout' });
    });

    it('reports a body that is not JSON, or not the published shape, as an unexpected answer', async () => {
      tacker = await startTacker({
        [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 200, body: '<html>proxy error</html>' }),
        [`GET /vnflcm/v2/vnf_instances/${INSTANCE}`]: () => ({ status: 200, body: { id: INSTANCE } }),
      });
      const notJson = await failure(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(notJson.code).to.equal('INTERNAL');
      const wrongShape = await failure(client(tacker.origin).getVnfInstance(INSTANCE));
      expect(wrongShape.code).to.equal('INTERNAL');
      expect(wrongShape.problems.map((problem) => problem.path)).to.include.members(['vnfdId', 'instantiationState']);
    });

    it('does not follow redirects', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 302, headers: { location: 'http://elsewhere.example/' } }) });
      const error = await failure(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(error.code).to.equal('INTERNAL');
      expect(tacker.seen).to.have.length(1);
    });

    it('reports a failing token provider as CREDENTIALS_UNAVAILABLE without calling Tacker', async () => {
      tacker = await startTacker({});
      const error = await failure(client(tacker.origin, { token: () => Promise.reject(new Error('keystone down')) }).getLcmOpOcc(OP_OCC));
      expect(error).to.deep.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect(tacker.seen).to.have.length(0);
    });

    it('never puts the token into an error', async () => {
      tacker = await startTacker({ [`GET /vnflcm/v2/vnf_lcm_op_occs/${OP_OCC}`]: () => ({ status: 401, body: { status: 401, detail: 'The request you have made requires authentication.' } }) });
      const error = await failure(client(tacker.origin).getLcmOpOcc(OP_OCC));
      expect(JSON.stringify({ message: error.message, details: error.details })).not.to.include(TOKEN);
    });

    it('refuses a base URL that is not http or https', () => {
      expect(() => new TackerClient({ baseUrl: 'tacker:9890', token: () => Promise.resolve(TOKEN), apiVersion: 'v2' })).to.throw(AppError, /absolute http or https/);
    });
  });
});
