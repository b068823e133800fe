import { expect } from 'chai';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { createInjectionEvent, injectionEventId, type InjectionEvent, type InjectionEventData } from './notifier.js';
import { WebhookNotifier, parseRetryAfter, signBody, verifySignature } from './webhook-notifier.js';
import type { Clock } from '../clock.js';
import { createTestLogger, readRunLog } from '../../test/support/run-log.js';

const SECRET = Buffer.from('vmsi-test-webhook-secret-7c1d0f5e9b');
const START = Date.parse('2026-05-01T10:00:00Z');

interface ReceivedRequest {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Responder = (response: http.ServerResponse) => void;

/** A real HTTP receiver on 127.0.0.1:0 answering with the queued responders, then 200. */
async function startReceiver(responders: Responder[] = []): Promise<{ url: string; requests: ReceivedRequest[]; close: () => Promise<void> }> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const respond = responders.shift() ?? ((res: http.ServerResponse): void => void res.writeHead(200).end('ok'));
      respond(response);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events?token=receiver-query-token`,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A port nothing listens on: bound, then released. */
async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return `http://127.0.0.1:${port}/events`;
}

function fakeClock(): Clock & { sleeps: number[] } {
  let now = START;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms, signal) => {
      sleeps.push(ms);
      now += ms;
      return signal?.aborted ? Promise.reject(new DOMException('aborted', 'AbortError')) : Promise.resolve();
    },
  };
}

const status =
  (code: number, headers: Record<string, string> = {}): Responder =>
  (response) =>
    void response.writeHead(code, headers).end(`status ${code}`);

const data: InjectionEventData = {
  jobId: 'job-0001',
  serverId: '6f1c3a52-8d0e-4b8f-9a34-2f7d2b1c9e10',
  vmName: 'vnf-a-vdu1-0',
  address: '198.51.100.10',
  mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', spiffeId: 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa', network: '' },
  timings: { startedAt: '2026-05-01T09:58:00.000Z', finishedAt: '2026-05-01T10:00:00.000Z', steps: { resolve: 120, deliver: 95000, verify: 4100 } },
};
const event: InjectionEvent = createInjectionEvent({ outcome: 'succeeded', data, time: new Date(START) });

describe('WebhookNotifier', function () {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async function () {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  async function receiver(responders: Responder[] = []): ReturnType<typeof startReceiver> {
    const started = await startReceiver(responders);
    cleanups.push(started.close);
    return started;
  }

  it('posts a structured CloudEvent whose signature the receiver can verify', async function () {
    const target = await receiver();
    const clock = fakeClock();
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock }).notify(event);

    expect(report).to.deep.equal({ delivered: true, attempts: 1, lastStatus: 200, deliveredAt: '2026-05-01T10:00:00.000Z' });
    const [request] = target.requests;
    expect(request?.method).to.equal('POST');
    expect(request?.headers['content-type']).to.equal('application/cloudevents+json; charset=utf-8');
    expect(request?.headers['x-vmsi-timestamp']).to.equal(String(START / 1000));
    expect(verifySignature(request!.body, request!.headers['x-vmsi-signature'] as string, SECRET)).to.equal(true);
    expect(verifySignature(request!.body, request!.headers['x-vmsi-signature'] as string, Buffer.from('another secret'))).to.equal(false);
    expect(verifySignature(request!.body.replace('vm-app', 'vm-bad'), request!.headers['x-vmsi-signature'] as string, SECRET)).to.equal(false);
    expect(JSON.parse(request!.body)).to.deep.equal({
      specversion: '1.0',
      id: 'job-0001.succeeded',
      source: '/vm-sidecar-injector',
      type: 'dev.vmsi.injection.succeeded',
      subject: data.serverId,
      time: '2026-05-01T10:00:00.000Z',
      datacontenttype: 'application/json',
      data,
    });
  });

  it('retries after a 503 and delivers on the second attempt', async function () {
    const target = await receiver([status(503)]);
    const clock = fakeClock();
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock }).notify(event);

    expect(report).to.include({ delivered: true, attempts: 2, lastStatus: 200 });
    expect(report).to.not.have.property('lastError');
    expect(clock.sleeps).to.deep.equal([1000]);
    expect(target.requests.map((request) => request.body)).to.deep.equal([target.requests[0]?.body, target.requests[0]?.body]);
  });

  it('waits as long as a 429 Retry-After asks, in seconds or as an HTTP date', async function () {
    const retryAt = new Date(START + 7_000 + 30_000).toUTCString();
    const target = await receiver([status(429, { 'retry-after': '7' }), status(503, { 'retry-after': retryAt })]);
    const clock = fakeClock();
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock }).notify(event);

    expect(report).to.include({ delivered: true, attempts: 3 });
    expect(clock.sleeps).to.deep.equal([7_000, 30_000]);
  });

  it('does not retry a 400: the receiver refused the event', async function () {
    const target = await receiver([status(400)]);
    const clock = fakeClock();
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock }).notify(event);

    expect(report).to.deep.equal({ delivered: false, attempts: 1, lastStatus: 400, lastError: 'HTTP 400', gaveUp: 'rejected' });
    expect(target.requests).to.have.length(1);
    expect(clock.sleeps).to.deep.equal([]);
  });

  it('does not follow a redirect: a POST would turn into a GET', async function () {
    const target = await receiver([status(302, { location: '/elsewhere' })]);
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock: fakeClock() }).notify(event);

    expect(report).to.include({ delivered: false, attempts: 1, lastStatus: 302, gaveUp: 'rejected' });
    expect(target.requests).to.have.length(1);
  });

  it('keeps retrying a receiver that refuses connections until the deadline, with capped exponential backoff', async function () {
    const clock = fakeClock();
    const notifier = new WebhookNotifier({
      url: await refusedUrl(),
      secret: SECRET,
      clock,
      deadlineMs: 60_000,
      retry: { initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 10_000 },
    });
    const report = await notifier.notify(event);

    // 1 + 2 + 4 + 8 + 10 + 10 + 10 = 45 s; one more 10 s wait would still fit, the next would pass 60 s.
    expect(clock.sleeps).to.deep.equal([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000]);
    expect(report).to.deep.equal({ delivered: false, attempts: 9, lastError: 'ECONNREFUSED', gaveUp: 'deadline' });
  });

  it('gives up before a Retry-After that reaches past the deadline', async function () {
    const target = await receiver([status(503, { 'retry-after': '3600' })]);
    const clock = fakeClock();
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock, deadlineMs: 60_000 }).notify(event);

    expect(report).to.deep.equal({ delivered: false, attempts: 1, lastStatus: 503, lastError: 'HTTP 503', gaveUp: 'deadline' });
    expect(clock.sleeps).to.deep.equal([]);
  });

  it('bounds each attempt with its own timeout', async function () {
    const hang: Responder = () => undefined;
    const target = await receiver([hang, hang]);
    const clock = fakeClock();
    const notifier = new WebhookNotifier({ url: target.url, secret: SECRET, clock, attemptTimeoutMs: 150, deadlineMs: 1_500 });
    const report = await notifier.notify(event);

    expect(report).to.deep.equal({ delivered: false, attempts: 2, lastError: 'timeout', gaveUp: 'deadline' });
  });

  it('stops when the caller aborts during a backoff wait', async function () {
    const target = await receiver([status(503)]);
    const controller = new AbortController();
    const clock = fakeClock();
    const sleep = clock.sleep.bind(clock);
    clock.sleep = (ms, signal) => {
      controller.abort();
      return sleep(ms, signal);
    };
    const report = await new WebhookNotifier({ url: target.url, secret: SECRET, clock }).notify(event, { signal: controller.signal });

    expect(report).to.include({ delivered: false, attempts: 1, gaveUp: 'aborted' });
    expect(target.requests).to.have.length(1);
  });

  it('never writes the secret into a log line or an inspected notifier', async function () {
    const target = await receiver([status(503), status(500)]);
    const marker = `event-${Date.now()}`;
    const notifier = new WebhookNotifier({ url: target.url, secret: SECRET, clock: fakeClock(), logger: createTestLogger() });
    const report = await notifier.notify({ ...event, id: marker });

    expect(report.delivered).to.equal(true);
    const log = readRunLog();
    const lines = log.split('\n').filter((line) => line.includes(marker));
    expect(lines, 'one warning per failed attempt').to.have.length(2);
    expect(lines[0]).to.include('"status":503').and.include('"target":"http://127.0.0.1:');
    expect(lines.join('\n'), 'the receiver URL query is left out').to.not.include('receiver-query-token');
    for (const form of [SECRET.toString('utf8'), SECRET.toString('hex'), SECRET.toString('base64')]) {
      expect(log).to.not.include(form);
      expect(inspect(notifier, { depth: 5, showHidden: true })).to.not.include(form);
      expect(JSON.stringify(new WebhookNotifier({ url: target.url, secret: SECRET }))).to.not.include(form);
    }
  });

  it('refuses URLs with credentials or other schemes, an empty secret and a retry policy that does not back off', function () {
    expect(() => new WebhookNotifier({ url: 'https://user:pw@example.net/hook', secret: SECRET })).to.throw().with.property('code', 'INVALID_CONFIG');
    expect(() => new WebhookNotifier({ url: 'ftp://example.net/hook', secret: SECRET })).to.throw().with.property('code', 'INVALID_CONFIG');
    expect(() => new WebhookNotifier({ url: 'https://example.net/hook', secret: Buffer.alloc(0) })).to.throw().with.property('code', 'INVALID_CONFIG');
    expect(() => new WebhookNotifier({ url: 'https://example.net/hook', secret: SECRET, retry: { backoffCoefficient: 0.5 } }))
      .to.throw()
      .with.property('code', 'INVALID_CONFIG');
  });
});

describe('webhook signatures', function () {
  const body = '{"id":"job-0001.succeeded"}';

  it('verifies the signature of the exact body, upper- or lowercase hex', function () {
    const header = signBody(body, SECRET);
    expect(header).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(body, header, SECRET)).to.equal(true);
    expect(verifySignature(Buffer.from(body), header.toUpperCase().replace('SHA256=', 'sha256='), SECRET)).to.equal(true);
  });

  it('rejects missing, malformed and truncated signatures', function () {
    const header = signBody(body, SECRET);
    for (const bad of [undefined, null, '', 'sha256=', header.slice(0, -2), header.replace('sha256=', 'sha1='), `${header}00`, 'sha256=zz'.padEnd(71, 'z')]) {
      expect(verifySignature(body, bad, SECRET), String(bad)).to.equal(false);
    }
    expect(verifySignature(body, header, Buffer.alloc(0))).to.equal(false);
  });
});

describe('injection events', function () {
  it('derive the id from job and outcome, so redeliveries de-duplicate', function () {
    const failed = createInjectionEvent({
      outcome: 'failed',
      data: { ...data, failure: { code: 'SIDECAR_NOT_READY', message: 'healthz/ready did not answer 200', step: 'verify' } },
      time: new Date(START),
      source: '/plugins/vmsi-east',
    });
    expect(failed).to.include({ id: injectionEventId('job-0001', 'failed'), type: 'dev.vmsi.injection.failed', source: '/plugins/vmsi-east' });
    expect(createInjectionEvent({ outcome: 'failed', data, time: new Date(START + 5_000) }).id).to.equal(failed.id);
  });

  it('use the VM name as subject when the server ID is unknown', function () {
    const { serverId: _serverId, ...withoutServer } = data;
    const removed = createInjectionEvent({ outcome: 'removed', data: withoutServer, time: new Date(START) });
    expect(removed).to.include({ subject: 'vnf-a-vdu1-0', type: 'dev.vmsi.injection.removed' });
  });
});

describe('Retry-After', function () {
  it('reads delay-seconds and HTTP dates, ignores anything else', function () {
    expect(parseRetryAfter('120', START)).to.equal(120_000);
    expect(parseRetryAfter('Fri, 01 May 2026 10:00:30 GMT', START)).to.equal(30_000);
    expect(parseRetryAfter('Fri, 01 May 2026 09:00:00 GMT', START)).to.equal(0);
    expect(parseRetryAfter('Friday, 01-May-26 10:01:00 GMT', START)).to.equal(60_000);
    expect(parseRetryAfter('Fri May  1 10:00:10 2026', START)).to.equal(10_000);
    expect(parseRetryAfter('2', START)).to.equal(2_000);
    expect(parseRetryAfter('soon', START)).to.equal(undefined);
    expect(parseRetryAfter('-5', START)).to.equal(undefined);
    expect(parseRetryAfter(null, START)).to.equal(undefined);
  });
});
