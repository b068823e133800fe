import { expect } from 'chai';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { signBody } from '../../src/notify/webhook-notifier.js';
import { INJECTION_EVENT_TYPES } from '../../src/notify/notifier.js';
import { CLOSED_SSH_PORT, FULL_SERVICE_EVENT_SECRET, containerDescriptor, startFullService, type FullService } from '../support/full-service.js';
import { ServiceProcess } from '../support/service-process.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';

/**
 * /openapi.json is checked twice: against the OpenAPI 3.1 meta-schema, and against what a real
 * `vmsi serve` with every optional part (Tacker plugin, orchestrator) answers: every documented
 * operation is called, its status must be documented and its body must match the schema.
 */

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

function documentedOperations(document: OpenApiDocument): string[] {
  return Object.entries(document.paths).flatMap(([route, item]) => Object.keys(item).filter((key) => METHODS.includes(key)).map((method) => `${method.toUpperCase()} ${route}`));
}

const pointer = (...parts: string[]): string => parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** Checks answers against the document, and remembers which operations answered with a success. */
class ContractChecker {
  readonly succeeded = new Set<string>();
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly document: OpenApiDocument) {
    this.ajv.addSchema(document, 'openapi.json');
  }

  async check(operation: string, response: Response): Promise<unknown> {
    const [method = '', route = ''] = operation.split(' ');
    const documented = this.document.paths[route]?.[method.toLowerCase()];
    expect(documented, `${operation} is documented`).to.not.equal(undefined);
    const status = String(response.status);
    const answer = documented?.responses[status];
    expect(answer, `${operation} answered ${status}, which the document does not list`).to.not.equal(undefined);
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0] ?? '';
    const text = await response.text();
    if (answer?.content === undefined) {
      expect(text, `${operation} ${status} has no body`).to.equal('');
    } else {
      expect(Object.keys(answer.content), `${operation} ${status} media type`).to.include(mediaType);
      if (mediaType.endsWith('json')) this.validate(`#/paths/${pointer(route, method.toLowerCase(), 'responses', status, 'content', mediaType, 'schema')}`, JSON.parse(text), operation);
    }
    if (response.status < 300) this.succeeded.add(operation);
    return mediaType.endsWith('json') ? (JSON.parse(text) as unknown) : text;
  }

  private validate(ref: string, body: unknown, operation: string): void {
    let validator = this.validators.get(ref);
    if (validator === undefined) {
      validator = this.ajv.compile({ $ref: `openapi.json${ref}` });
      this.validators.set(ref, validator);
    }
    const valid = validator(body);
    expect(valid, `${operation}: ${this.ajv.errorsText(validator.errors)}\n${JSON.stringify(body).slice(0, 2000)}`).to.equal(true);
  }
}

describe('OpenAPI document served at /openapi.json', function () {
  this.timeout(180_000);
  let full: FullService;
  let service: ServiceProcess;
  let document: OpenApiDocument;
  let contract: ContractChecker;

  before(async function () {
    full = await startFullService();
    service = full.service;
    const response = await call('GET', '/openapi.json');
    expect(response.status).to.equal(200);
    document = (await response.json()) as OpenApiDocument;
    contract = new ContractChecker(document);
  });

  after(async function () {
    await full?.close();
  });

  function call(method: string, route: string, init: { body?: unknown; contentType?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${service.token}`, ...init.headers };
    if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
    const body = typeof init.body === 'string' ? init.body : init.body === undefined ? undefined : JSON.stringify(init.body);
    return fetch(`${service.url}${route}`, { method, headers, ...(body === undefined ? {} : { body }) });
  }

  async function checked<T>(operation: string, route: string, init: Parameters<typeof call>[2] = {}): Promise<T> {
    const [method = ''] = operation.split(' ');
    return (await contract.check(operation, await call(method, route, init))) as T;
  }

  async function jobInState(id: string, states: string[]): Promise<{ id: string; state: string }> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const job = await checked<{ id: string; state: string }>('GET /v1/injections/{id}', `/v1/injections/${id}`);
      if (states.includes(job.state)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} stayed ${job.state}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('is a valid OpenAPI 3.1 document', async function () {
    expect(document.openapi).to.match(/^3\.1\./);
    const validator = new Validator();
    const result = await validator.validate(document as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    expect(validator.version).to.equal('3.1');
  });

  it('documents the optional parts that are mounted, and only those', async function () {
    const operations = documentedOperations(document);
    expect(operations).to.include.members(['POST /v1/injections', 'POST /v1/tacker/notifications/v2', 'POST /v1/orchestrator/deployments', 'GET /openapi.json']);
    const renderOnly = new ServiceProcess({ privateKeyPath: full.keyFile });
    try {
      await renderOnly.start();
      const response = await fetch(`${renderOnly.url}/openapi.json`, { headers: { authorization: `Bearer ${renderOnly.token}` } });
      const paths = Object.keys(((await response.json()) as OpenApiDocument).paths);
      expect(paths).to.include('/v1/injections');
      expect(paths.filter((route) => route.startsWith('/v1/tacker') || route.startsWith('/v1/orchestrator'))).to.deep.equal([]);
    } finally {
      await renderOnly.remove();
    }
  });

  it('catches an answer that strays from the document', async function () {
    const checker = new ContractChecker(document);
    const json = { 'content-type': 'application/json' };
    const wrongBody = new Response(JSON.stringify({ status: 'fine' }), { status: 200, headers: json });
    await checker.check('GET /healthz', wrongBody).then(
      () => expect.fail('a wrong body passed'),
      (error: Error) => expect(error.message).to.include('must be equal to constant'),
    );
    const undocumentedStatus = new Response(JSON.stringify({ status: 'ok' }), { status: 418, headers: json });
    await checker.check('GET /healthz', undocumentedStatus).then(
      () => expect.fail('an undocumented status passed'),
      (error: Error) => expect(error.message).to.include('418'),
    );
    expect(checker.succeeded.size).to.equal(0);
  });

  it('needs the same authentication as the rest of the API', async function () {
    const response = await fetch(`${service.url}/openapi.json`);
    await contract.check('GET /openapi.json', response);
    expect(response.status).to.equal(401);
  });

  it('matches what every documented operation answers', async function () {
    await checked('GET /healthz', '/healthz');
    await checked('GET /readyz', '/readyz');
    await checked('GET /metrics', '/metrics');
    await checked('GET /openapi.json', '/openapi.json');

    const spec = validSpecInput({ vm: { name: 'contract-vm', address: '127.0.0.1', ssh: { user: 'debian', port: CLOSED_SSH_PORT, privateKeyRef: { secret: 'lab-key' } } } });
    await checked('POST /v1/render', '/v1/render', { body: spec });
    await checked('POST /v1/render', '/v1/render?delivery=cloud-init', { body: spec });
    await checked('POST /v1/render', '/v1/render?unknown=1', { body: spec });
    await checked('POST /v1/render', '/v1/render', { body: { vm: {} } });
    await checked('POST /v1/render', '/v1/render', { body: 'plain', contentType: 'text/plain' });

    const injection = await checked<{ id: string }>('POST /v1/injections', '/v1/injections', { body: spec, headers: { 'idempotency-key': 'contract-1' } });
    await checked('POST /v1/injections', '/v1/injections', { body: { ...spec, vm: { ...spec.vm, name: 'other' } }, headers: { 'idempotency-key': 'contract-1' } });
    await checked('GET /v1/injections', '/v1/injections?state=pending&limit=5');
    await checked('GET /v1/injections', '/v1/injections?state=bogus');
    await checked('GET /v1/injections/{id}', '/v1/injections/00000000-0000-4000-8000-000000000000');
    await jobInState(injection.id, ['failed_temp']);
    await checked('POST /v1/injections/{id}/retry', `/v1/injections/${injection.id}/retry`);
    await jobInState(injection.id, ['failed_temp']);
    await checked('POST /v1/injections/{id}/abandon', `/v1/injections/${injection.id}/abandon`);
    await checked('POST /v1/injections/{id}/abandon', `/v1/injections/${injection.id}/abandon`);
    await checked('POST /v1/injections/{id}/reonboard', `/v1/injections/${injection.id}/reonboard`);
    await checked('POST /v1/removals', '/v1/removals', { body: spec });
    await checked('GET /v1/injections', '/v1/injections');
    await checked('GET /v1/vms', '/v1/vms');

    const basic = { authorization: full.basicAuthorization };
    for (const apiVersion of ['v1', 'v2']) {
      await checked(`GET /v1/tacker/notifications/${apiVersion}`, `/v1/tacker/notifications/${apiVersion}`, { headers: basic });
      await checked(`GET /v1/tacker/notifications/${apiVersion}`, `/v1/tacker/notifications/${apiVersion}`, { headers: { authorization: 'Basic d3Jvbmc6d3Jvbmc=' } });
    }
    const v2Notification = readFileSync(path.join(PROJECT_ROOT, 'src/tacker/testdata/v2-heal-completed-full.json'), 'utf8');
    const v1Notification = readFileSync(path.join(PROJECT_ROOT, 'src/tacker/testdata/v1-instantiate-completed.json'), 'utf8');
    await checked('POST /v1/tacker/notifications/v2', '/v1/tacker/notifications/v2', { body: v2Notification, headers: basic });
    await checked('POST /v1/tacker/notifications/v1', '/v1/tacker/notifications/v1', { body: v1Notification, headers: basic });
    await checked('POST /v1/tacker/notifications/v2', '/v1/tacker/notifications/v2', { body: '{not json', headers: basic });
    await checked('GET /v1/orchestrator/tacker/notifications', '/v1/orchestrator/tacker/notifications', { headers: basic });
    await checked('POST /v1/orchestrator/tacker/notifications', '/v1/orchestrator/tacker/notifications', { body: v2Notification, headers: basic });
    await checked('POST /v1/orchestrator/tacker/notifications', '/v1/orchestrator/tacker/notifications', { body: '{"notificationType": 7}', headers: basic });
    await checked('POST /v1/tacker/mgmt', '/v1/tacker/mgmt', { body: { hook: 'instantiate_end', vnfInstanceId: 'e7a1c0b2-3f4d-4c6e-9a8b-1d2e3f4a5b6c', operation: 'INSTANTIATE', servers: [] } });
    await checked('POST /v1/tacker/mgmt', '/v1/tacker/mgmt', { body: { hook: 'instantiate_end' } });
    await checked('POST /v1/tacker/reconcile', '/v1/tacker/reconcile', { body: { apiVersion: 'v2', since: '2026-01-01T00:00:00Z' } });
    await checked('POST /v1/tacker/reconcile', '/v1/tacker/reconcile', { body: { apiVersion: 'v3' } });

    const descriptor = containerDescriptor('contract');
    await checked('POST /v1/orchestrator/plans', '/v1/orchestrator/plans', { body: descriptor });
    const deployment = await checked<{ id: string }>('POST /v1/orchestrator/deployments', '/v1/orchestrator/deployments', { body: descriptor });
    await checked('POST /v1/orchestrator/deployments', '/v1/orchestrator/deployments', { body: { kind: 'MeshService' } });
    await checked('GET /v1/orchestrator/deployments/{id}', `/v1/orchestrator/deployments/${deployment.id}`);
    await checked('GET /v1/orchestrator/deployments/{id}', '/v1/orchestrator/deployments/not-a-job');
    await checked('GET /v1/orchestrator/services/{name}', '/v1/orchestrator/services/contract');
    await checked('GET /v1/orchestrator/services/{name}', '/v1/orchestrator/services/unknown');
    const services = await checked<{ items: Array<{ service: string }> }>('GET /v1/orchestrator/services', '/v1/orchestrator/services');
    expect(services.items.map((item) => item.service)).to.deep.equal(['contract']);
    await checked('DELETE /v1/orchestrator/services/{name}', '/v1/orchestrator/services/contract');

    const event = JSON.stringify({
      specversion: '1.0',
      id: `${injection.id}.succeeded`,
      source: '/vm-sidecar-injector',
      type: INJECTION_EVENT_TYPES.succeeded,
      subject: 'contract-vm',
      time: new Date().toISOString(),
      data: { jobId: injection.id, vmName: 'contract-vm', address: '127.0.0.1' },
    });
    const signature = signBody(event, Buffer.from(FULL_SERVICE_EVENT_SECRET));
    await checked('POST /v1/orchestrator/events', '/v1/orchestrator/events', { body: event, contentType: 'application/cloudevents+json', headers: { 'x-vmsi-signature': signature } });
    await checked('POST /v1/orchestrator/events', '/v1/orchestrator/events', { body: event, contentType: 'application/cloudevents+json', headers: { 'x-vmsi-signature': `sha256=${'0'.repeat(64)}` } });

    const unexercised = documentedOperations(document).filter((operation) => !contract.succeeded.has(operation));
    expect(unexercised, 'documented operations that never answered with a success').to.deep.equal([]);
  });
});
