import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';
import type { JobView } from '../injection/job-view.js';
import { ScriptedVmShell } from '../../test/support/scripted-vm-shell.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { startTestEngine, type TestEngine } from '../../test/support/test-engine.js';
import { ADMIN_TOKEN, READER_TOKEN, startTestService, type TestService } from '../../test/support/test-service.js';

describe('injection API', function () {
  this.timeout(30_000);
  let shell: ScriptedVmShell;
  let engine: TestEngine;
  let service: TestService;

  beforeEach(async function () {
    shell = new ScriptedVmShell();
    engine = await startTestEngine(shell);
    service = await startTestService({ injections: engine.service });
  });
  afterEach(async function () {
    await service.close();
    await engine.close();
  });

  function call(route: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
    const { token = ADMIN_TOKEN, headers, ...rest } = init;
    return fetch(`${service.url}${route}`, { ...rest, headers: { authorization: `Bearer ${token}`, ...headers } });
  }

  function post(route: string, body: unknown, headers: Record<string, string> = {}, token = ADMIN_TOKEN): Promise<Response> {
    return call(route, { method: 'POST', token, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  }

  async function finished(id: string): Promise<JobView> {
    for (let i = 0; i < 200; i++) {
      const job = (await (await call(`/v1/injections/${id}`)).json()) as JobView;
      if (['succeeded', 'failed', 'failed_temp'].includes(job.state)) return job;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`job ${id} did not finish`);
  }

  it('accepts an injection with 202 and a Location, then runs every step', async function () {
    const response = await post('/v1/injections', validSpecInput());
    expect(response.status).to.equal(202);
    const accepted = (await response.json()) as JobView;
    expect(response.headers.get('location')).to.equal(`/v1/injections/${accepted.id}`);
    const job = await finished(accepted.id);
    expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');
    expect(job.steps.map((step) => `${step.name}:${step.state}`)).to.deep.equal([
      'resolve:succeeded', 'credentials:succeeded', 'deliver:succeeded', 'verify:succeeded', 'register:succeeded', 'notify:succeeded',
    ]);
    expect(readdirSync(path.join(engine.registryDir, 'vm-ns')).sort()).to.deep.equal(['workloadentry-vm-app-198.51.100.10.yaml', 'workloadgroup-vm-app.yaml']);
    expect(job.log?.some((line) => line.includes('VMSI-RESULT'))).to.equal(true);
  });

  it('returns the same job for a repeated Idempotency-Key and refuses the key for another request', async function () {
    const first = (await (await post('/v1/injections', validSpecInput(), { 'idempotency-key': 'tacker-op-1' })).json()) as JobView;
    const again = await post('/v1/injections', validSpecInput(), { 'idempotency-key': 'tacker-op-1' });
    expect(again.status).to.equal(202);
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(((await again.json()) as JobView).id).to.equal(first.id);
    const other = validSpecInput();
    const conflict = await post('/v1/injections', { ...other, vm: { ...other.vm, address: '198.51.100.99' } }, { 'idempotency-key': 'tacker-op-1' });
    expect(conflict.status).to.equal(409);
  });

  it('fails a job without retries when the host key does not match', async function () {
    shell.connectError = new AppError('SSH_HOST_KEY_MISMATCH', 'The host key of 198.51.100.10 does not match.', { retryable: false });
    const accepted = (await (await post('/v1/injections', validSpecInput())).json()) as JobView;
    const job = await finished(accepted.id);
    expect(job.state).to.equal('failed');
    expect(job.lastError?.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(job.steps.find((step) => step.name === 'deliver')?.attempts).to.equal(1);
    expect(shell.commands).to.have.length(0);
  });

  it('removes a VM: undo on the VM, then deregistration', async function () {
    await finished(((await (await post('/v1/injections', validSpecInput())).json()) as JobView).id);
    const removal = (await (await post('/v1/removals', validSpecInput())).json()) as JobView;
    const job = await finished(removal.id);
    expect(job.state).to.equal('succeeded');
    expect(job.steps.map((step) => step.name)).to.deep.equal(['resolve', 'undo', 'deregister', 'notify']);
    expect(readdirSync(path.join(engine.registryDir, 'vm-ns'))).to.deep.equal(['workloadgroup-vm-app.yaml']);
    expect(shell.commands.some((argv) => argv.includes('remove'))).to.equal(true);
  });

  it('re-onboards a VM as a new injection of the same spec, minting a fresh token', async function () {
    const first = await finished(((await (await post('/v1/injections', validSpecInput())).json()) as JobView).id);
    const response = await call(`/v1/injections/${first.id}/reonboard`, { method: 'POST' });
    expect(response.status).to.equal(202);
    const again = await finished(((await response.json()) as JobView).id);
    expect(again.id).to.not.equal(first.id);
    expect(again.state).to.equal('succeeded');
    expect(again.vm).to.deep.equal(first.vm);
    expect((await call('/v1/injections/00000000-0000-4000-8000-000000000000/reonboard', { method: 'POST' })).status).to.equal(404);
  });

  it('lists jobs by state and answers operator actions on jobs that are not failed_temp with 409', async function () {
    const accepted = (await (await post('/v1/injections', validSpecInput())).json()) as JobView;
    await finished(accepted.id);
    const list = (await (await call('/v1/injections?state=succeeded')).json()) as { items: JobView[] };
    expect(list.items.map((job) => job.id)).to.include(accepted.id);
    expect((await call(`/v1/injections/${accepted.id}/retry`, { method: 'POST' })).status).to.equal(409);
    expect((await call(`/v1/injections/${accepted.id}/abandon`, { method: 'POST' })).status).to.equal(409);
  });

  it('answers bad input on every endpoint with 4xx problem details and stores nothing', async function () {
    const statuses = [
      (await post('/v1/injections', { vm: {} })).status,
      (await post('/v1/removals', 'not a spec')).status,
      (await call('/v1/injections', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status,
      (await post('/v1/injections', validSpecInput(), { 'idempotency-key': 'bad key with spaces' })).status,
      (await post('/v1/injections', validSpecInput(), {}, READER_TOKEN)).status,
      (await post('/v1/injections', validSpecInput(), {}, 'not-a-token-at-all')).status,
      (await call('/v1/injections?state=exploded')).status,
      (await call('/v1/injections/not-a-uuid')).status,
      (await call('/v1/injections/00000000-0000-4000-8000-000000000000')).status,
      (await call('/v1/injections/00000000-0000-4000-8000-000000000000/retry', { method: 'POST' })).status,
    ];
    expect(statuses).to.deep.equal([400, 400, 415, 400, 403, 401, 400, 404, 404, 404]);
    expect(await engine.store.list()).to.have.length(0);
  });
});
