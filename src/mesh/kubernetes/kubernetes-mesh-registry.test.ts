import { expect } from 'chai';
import { AppError } from '../../errors.js';
import { parseInjectionSpec } from '../../injection-spec.js';
import { buildWorkloadEntry, buildWorkloadGroup, type WorkloadEntry } from '../workload-objects.js';
import { FIELD_MANAGER, KubernetesMeshRegistry } from './kubernetes-mesh-registry.js';
import { assertValidIstioObject } from '../../../test/support/istio-crd-validator.js';
import { startKubernetesFixture } from '../../../test/support/k8s-sim/kubernetes-fixture.js';
import type { KubernetesSimulator } from '../../../test/support/k8s-sim/kubernetes-simulator.js';
import { createTestLogger } from '../../../test/support/run-log.js';
import { validSpecInput } from '../../../test/support/spec-fixtures.js';
import { rejection } from '../../../test/support/app-error-assertions.js';

const base = validSpecInput();
const spec = parseInjectionSpec({ ...base, mesh: { ...base.mesh, ports: { http: 8080 }, probe: { httpGet: { port: 8080, path: '/ready' } } } });
const group = buildWorkloadGroup(spec);
const entry = buildWorkloadEntry(spec, { vnfInstanceId: 'c1b2d3e4-0000-4000-8000-00000000abcd' });

/** What a job step does: repeat while the error says a retry can help. */
async function withRetries<T>(action: () => Promise<T>, errors: AppError[]): Promise<T> {
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof AppError) || !error.retryable || errors.length > 5) throw error;
      errors.push(error);
    }
  }
}

describe('KubernetesMeshRegistry', function () {
  let sim: KubernetesSimulator;
  let registry: KubernetesMeshRegistry;
  let fixture: Awaited<ReturnType<typeof startKubernetesFixture>>;
  const writes = (): string[] => sim.requests.filter((request) => request.method !== 'GET').map((request) => `${request.method} ${request.path}`);

  beforeEach(async function () {
    fixture = await startKubernetesFixture();
    sim = fixture.sim;
    registry = new KubernetesMeshRegistry({ kubeConfig: fixture.kubeConfigFor(), logger: createTestLogger() });
  });

  afterEach(async function () {
    await sim.close();
  });

  it('generates objects the Istio CRDs accept', function () {
    assertValidIstioObject(group);
    assertValidIstioObject(entry);
  });

  it('creates the WorkloadGroup once and never replaces it', async function () {
    expect(await registry.ensureWorkloadGroup(group)).to.equal('created');
    const stored = sim.object('workloadgroups', 'vm-ns', 'vm-app');
    const changed = { ...group, spec: { ...group.spec, template: { ...group.spec.template, serviceAccount: 'other-sa' } } };

    expect(await registry.ensureWorkloadGroup(changed)).to.equal('exists');
    expect(sim.object('workloadgroups', 'vm-ns', 'vm-app')).to.deep.equal(stored);
    expect(writes()).to.deep.equal(['POST /apis/networking.istio.io/v1/namespaces/vm-ns/workloadgroups']);
  });

  it('treats a group created by someone else between read and create as existing', async function () {
    sim.failNext({ method: 'POST', path: /workloadgroups$/, status: 409 });
    expect(await registry.ensureWorkloadGroup(group)).to.equal('exists');
  });

  it('applies the WorkloadEntry with server-side apply: created, unchanged, then updated, never duplicated', async function () {
    expect(await registry.applyWorkloadEntry(entry)).to.equal('created');
    expect(await registry.applyWorkloadEntry(entry)).to.equal('unchanged');
    const moved: WorkloadEntry = { ...entry, spec: { ...entry.spec, ports: { http: 9090 } } };
    expect(await registry.applyWorkloadEntry(moved)).to.equal('updated');

    const stored = sim.objects('workloadentries', 'vm-ns');
    expect(stored).to.have.length(1);
    expect(stored[0]?.spec).to.deep.equal(moved.spec);
    expect(stored[0]?.metadata.managedFields).to.have.length(1).and.to.have.nested.property('[0].manager', FIELD_MANAGER);
    const patches = sim.requests.filter((request) => request.method === 'PATCH');
    expect(patches).to.have.length(3);
    expect(patches[0]).to.deep.include({ contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGER, force: 'true' } });
  });

  it('takes over fields another manager changed, since it applies with force', async function () {
    await registry.applyWorkloadEntry(entry);
    const edited = sim.object('workloadentries', 'vm-ns', entry.metadata.name);
    const put = await fetch(`${sim.url}/apis/networking.istio.io/v1/namespaces/vm-ns/workloadentries/${entry.metadata.name}?fieldManager=kubectl-edit`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${sim.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...edited, metadata: { ...edited?.metadata, managedFields: undefined }, spec: { ...entry.spec, address: '198.51.100.99' } }),
    });
    expect(put.status).to.equal(200);

    expect(await registry.applyWorkloadEntry(entry)).to.equal('updated');
    expect(sim.object('workloadentries', 'vm-ns', entry.metadata.name)?.spec).to.deep.equal(entry.spec);
  });

  it('returns the entry with the status conditions istiod wrote, without server bookkeeping', async function () {
    expect(await registry.getWorkloadEntry('vm-ns', entry.metadata.name)).to.equal(undefined);
    await registry.applyWorkloadEntry(entry);
    const conditions = [{ type: 'Healthy', status: 'True', lastProbeTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' }];
    sim.setStatus('workloadentries', 'vm-ns', entry.metadata.name, { conditions });

    expect(await registry.getWorkloadEntry('vm-ns', entry.metadata.name)).to.deep.equal({ ...entry, status: { conditions } });
    expect(await registry.applyWorkloadEntry(entry)).to.equal('unchanged');
    expect(sim.object('workloadentries', 'vm-ns', entry.metadata.name)?.status).to.deep.equal({ conditions });
  });

  it('deletes only that entry, and reports a missing one as absent', async function () {
    const other = buildWorkloadEntry(parseInjectionSpec({ ...base, vm: { ...base.vm, address: '198.51.100.11' } }));
    await registry.ensureWorkloadGroup(group);
    await registry.applyWorkloadEntry(entry);
    await registry.applyWorkloadEntry(other);

    expect(await registry.deleteWorkloadEntry('vm-ns', entry.metadata.name)).to.equal('deleted');
    expect(await registry.deleteWorkloadEntry('vm-ns', entry.metadata.name)).to.equal('absent');
    expect(sim.objects('workloadentries', 'vm-ns').map((object) => object.metadata.name)).to.deep.equal([other.metadata.name]);
    expect(sim.objects('workloadgroups', 'vm-ns')).to.have.length(1);
  });

  it('registers once through 409 then 503, each marked retryable', async function () {
    sim.failNext({ method: 'PATCH', path: /workloadentries\//, status: 409 });
    sim.failNext({ method: 'PATCH', path: /workloadentries\//, status: 503, retryAfterSeconds: 2 });
    const errors: AppError[] = [];

    expect(await withRetries(() => registry.applyWorkloadEntry(entry), errors)).to.equal('created');
    expect(errors.map((error) => [error.code, error.retryable])).to.deep.equal([
      ['CONFLICT', true],
      ['SERVICE_UNREACHABLE', true],
    ]);
    expect(errors[1]?.details).to.include({ retryAfterMs: 2000 });
    expect(sim.objects('workloadentries', 'vm-ns')).to.have.length(1);
  });

  it('marks 429 retryable', async function () {
    sim.failNext({ method: 'GET', path: /workloadentries\//, status: 429 });
    const error = await rejection(registry.getWorkloadEntry('vm-ns', entry.metadata.name));
    expect(error).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
  });

  it('reports 403 as non-retryable with the API reason and message', async function () {
    const token = sim.addUser('system:serviceaccount:vmsi:vmsi', [{ verbs: ['get'], resources: ['workloadentries'], namespaces: ['vm-ns'] }]);
    const limited = new KubernetesMeshRegistry({ kubeConfig: fixture.kubeConfigFor(token), logger: createTestLogger() });

    const error = await rejection(limited.applyWorkloadEntry(entry));
    expect(error).to.include({ code: 'FORBIDDEN', retryable: false });
    expect(error.details).to.include({ status: 403, reason: 'Forbidden' });
    expect(error.message).to.include('User "system:serviceaccount:vmsi:vmsi" cannot patch resource "workloadentries"');
  });

  it('reports 422 as non-retryable with the API problems', async function () {
    const bad = { ...entry, spec: { ...entry.spec, ports: { http: 70000 } } };
    const error = await rejection(registry.applyWorkloadEntry(bad));
    expect(error).to.include({ code: 'REGISTRY_FAILED', retryable: false });
    expect(error.details).to.include({ status: 422, reason: 'Invalid' });
    expect(error.problems).to.not.be.empty;
    expect(sim.objects('workloadentries', 'vm-ns')).to.be.empty;
  });
});
