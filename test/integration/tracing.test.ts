import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../src/injection/job-view.js';
import { CLOSED_SSH_PORT, FULL_SERVICE_CALLBACK_PASSWORD, FULL_SERVICE_EVENT_SECRET, startFullService, type FullService } from '../support/full-service.js';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { TEST_TOKEN_MARKER } from '../support/test-credentials.js';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Traces of a real `vmsi serve`, exported over OTLP/HTTP to a receiver started here: the caller's
 * trace context is continued through the durable job (also after a restart), its steps and SSH
 * attempts, to the webhook, which receives the trace context too.
 */
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const WEBHOOK_SECRET = randomBytes(32);

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

function only(spans: ReceivedSpan[], predicate: (span: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(predicate);
  expect(found, `${what}: ${spans.map((span) => span.name).join(', ')}`).to.have.length.greaterThan(0);
  return found[0] as ReceivedSpan;
}

describe('OpenTelemetry traces over OTLP/HTTP', function () {
  this.timeout(180_000);
  let receiver: OtlpReceiver;
  let webhook: WebhookReceiver;
  let full: FullService;
  const traceId = hex(16);
  const callerSpanId = hex(8);
  let jobId: string;

  before(async function () {
    receiver = new OtlpReceiver();
    await receiver.start();
    webhook = new WebhookReceiver(WEBHOOK_SECRET);
    await webhook.start();
    full = await startFullService({ webhook: { url: webhook.url, secret: WEBHOOK_SECRET, deadline: '30s' }, extraConfig: { telemetry: { tracing: { endpoint: receiver.url, serviceName: 'vmsi-under-test' } } } });
  });

  after(async function () {
    await full?.close();
    await webhook?.stop();
    await receiver?.stop();
  });

  it('continues the caller’s trace from the request through the job, its steps and SSH, to the webhook', async function () {
    const spec = validSpecInput({ vm: { name: 'traced-vm', address: '127.0.0.1', ssh: { user: 'debian', port: CLOSED_SSH_PORT, privateKeyRef: { secret: 'lab-key' } } } });
    const response = await fetch(`${full.service.url}/v1/injections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${full.service.token}`, 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpanId}-01` },
      body: JSON.stringify(spec),
    });
    expect(response.status).to.equal(202);
    jobId = ((await response.json()) as JobView).id;

    const delivered = await webhook.waitFor((events) => events.some((event) => event.data.jobId === jobId));
    expect(delivered.length).to.be.greaterThan(0);
    const spans = await receiver.waitFor((received) => received.some((span) => span.kind === SPAN_KIND_CLIENT && span.name.startsWith('POST ') && span.traceId === traceId));
    const trace = spans.filter((span) => span.traceId === traceId);
    const byId = new Map(trace.map((span) => [span.spanId, span]));

    const server = only(trace, (span) => span.kind === SPAN_KIND_SERVER && span.name === 'POST /v1/injections', 'the request span');
    expect(server.parentSpanId).to.equal(callerSpanId);
    expect(server.attributes['http.response.status_code']).to.equal(202);
    expect(server.serviceName).to.equal('vmsi-under-test');

    const job = only(trace, (span) => span.name === 'job inject' && span.attributes['vmsi.job.id'] === jobId, 'the job span');
    expect(job.parentSpanId, 'the job continues the request, across the job store').to.equal(server.spanId);
    const steps = trace.filter((span) => span.parentSpanId === job.spanId && span.name.startsWith('step '));
    expect(steps.map((span) => span.name)).to.include.members(['step resolve', 'step credentials', 'step deliver']);
    const deliver = only(steps, (span) => span.name === 'step deliver', 'the deliver step');
    expect(deliver.attributes['error.type']).to.equal('SSH_CONNECT_FAILED');
    const connect = only(trace, (span) => span.name === 'ssh connect' && span.parentSpanId === deliver.spanId, 'the SSH connect span');
    expect(connect.attributes).to.include({ 'server.address': '127.0.0.1', 'server.port': CLOSED_SSH_PORT });

    // The failure announcement is a job of its own, created inside the failed job's span.
    const notification = only(trace, (span) => span.name === 'job notification', 'the notification job span');
    expect(byId.get(notification.parentSpanId)?.name ?? '', 'the announcement descends from the failed job').to.match(/^(step |job inject)/);
    const post = only(trace, (span) => span.kind === SPAN_KIND_CLIENT && span.name === 'POST 127.0.0.1' && span.attributes['url.path'] === '/events', 'the webhook call');
    const traceparents = webhook.deliveries.filter((delivery) => delivery.event.data.jobId === jobId).map((delivery) => delivery.traceparent);
    expect(traceparents, 'the webhook receives the trace context of its call').to.include(`00-${traceId}-${post.spanId}-01`);
  });

  it('traces a Tacker notification into its lcm-event job and the calls that job makes', async function () {
    const lcmTrace = hex(16);
    const notification = readFileSync(path.join(PROJECT_ROOT, 'src/tacker/testdata/v2-heal-completed-full.json'), 'utf8');
    const response = await fetch(`${full.service.url}/v1/tacker/notifications/v2`, {
      method: 'POST',
      headers: { authorization: full.basicAuthorization, 'content-type': 'application/json', traceparent: `00-${lcmTrace}-${hex(8)}-01` },
      body: notification,
    });
    expect(response.status).to.equal(204);
    const spans = await receiver.waitFor((received) => received.some((span) => span.traceId === lcmTrace && span.kind === SPAN_KIND_CLIENT));
    const trace = spans.filter((span) => span.traceId === lcmTrace);
    const job = only(trace, (span) => span.name === 'job lcm-event', 'the lcm-event job span');
    const server = only(trace, (span) => span.kind === SPAN_KIND_SERVER, 'the callback span');
    expect(job.parentSpanId).to.equal(server.spanId);
    const calls = trace.filter((span) => span.kind === SPAN_KIND_CLIENT);
    expect(calls.map((span) => span.attributes['url.path'])).to.satisfy((paths: unknown[]) => paths.some((value) => String(value).includes('/identity') || String(value).includes('/v3/auth/tokens') || String(value).includes('/vnflcm/')));
  });

  it('continues the stored trace when a job runs again after a restart', async function () {
    await full.service.stop();
    await full.service.start();
    const before = receiver.spans.filter((span) => span.name === 'job inject' && span.attributes['vmsi.job.id'] === jobId).length;
    const retry = await full.service.request<JobView>('POST', `/v1/injections/${jobId}/retry`);
    expect(retry.status).to.equal(200);
    const spans = await receiver.waitFor((received) => received.filter((span) => span.name === 'job inject' && span.attributes['vmsi.job.id'] === jobId).length > before);
    const runs = spans.filter((span) => span.name === 'job inject' && span.attributes['vmsi.job.id'] === jobId);
    expect(runs.map((span) => span.traceId)).to.deep.equal(runs.map(() => traceId));
    expect(runs.at(-1)?.attributes['vmsi.job.attempt']).to.be.greaterThan(runs[0]?.attributes['vmsi.job.attempt'] as number);
  });

  it('puts no secret in any exported span', function () {
    const raw = receiver.rawBodies.join('\n');
    expect(raw.length).to.be.greaterThan(0);
    const privateKey = readFileSync(full.keyFile, 'utf8');
    for (const secret of [full.service.token, FULL_SERVICE_CALLBACK_PASSWORD, FULL_SERVICE_EVENT_SECRET, WEBHOOK_SECRET.toString('hex'), TEST_TOKEN_MARKER, privateKey.split('\n')[1] ?? 'key', 'Bearer ', 'Basic ']) {
      expect(raw, 'a secret reached the trace export').to.not.include(secret);
    }
  });
});
